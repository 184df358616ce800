# shellcheck shell=bash
# devbox auto-activation for bash: `eval "$(devbox hook bash)"` in ~/.bashrc. What bash does its
# own way; the rest is core.sh, shared with zsh.

# Remember how variable $1 is now (value, exported or not, or unset), then export $1=$2.
_devbox_set() {
    if [[ -n ${!1+x} ]]; then
        local q
        printf -v q '%q' "${!1}"
        if [[ ${!1@a} == *x* ]]; then
            _devbox_undo+="export $1=$q"$'\n'
        else
            _devbox_undo+="$1=$q; export -n $1"$'\n'
        fi
    else
        _devbox_undo+="unset $1"$'\n'
    fi
    export "$1=$2"
}

# Would devbox, started now, see $1=$2 in its environment ("": unset or not exported)?
_devbox_is() {
    if [[ -n ${!1+x} && ${!1@a} == *x* ]]; then
        [[ ${!1} == "$2" ]]
    else
        [[ -z $2 ]]
    fi
}

# Is there a devbox command on PATH (not this function)?
_devbox_on_path() {
    type -P devbox >/dev/null
}

_devbox_install_hook() {
    local entry
    # shellcheck disable=SC2128,SC2178 # the elif branch: PROMPT_COMMAND is a string there
    if [[ ${PROMPT_COMMAND@a} == *a* ]]; then # bash 5.1's array form
        for entry in "${PROMPT_COMMAND[@]}"; do
            [[ $entry == _devbox_hook ]] && return
        done
        PROMPT_COMMAND=(_devbox_hook "${PROMPT_COMMAND[@]}")
    elif [[ $'\n'${PROMPT_COMMAND-}$'\n' != *$'\n'_devbox_hook$'\n'* ]]; then
        PROMPT_COMMAND=_devbox_hook${PROMPT_COMMAND:+$'\n'$PROMPT_COMMAND}
    fi
}

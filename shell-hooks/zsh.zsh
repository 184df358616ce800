# devbox auto-activation for zsh: `eval "$(devbox hook zsh)"` in ~/.zshrc. What zsh does its own
# way; the rest is core.sh, shared with bash.

# Remember how variable $1 is now (value, exported or not, or unset), then export $1=$2.
_devbox_set() {
    if ((${+parameters[$1]})); then
        local q=${(qq)${(P)1}}
        if [[ ${parameters[$1]} == *export* ]]; then
            _devbox_undo+="export $1=$q"$'\n'
        else
            _devbox_undo+="typeset -g +x $1=$q"$'\n'
        fi
    else
        _devbox_undo+="unset $1"$'\n'
    fi
    export "$1=$2"
}

# Would devbox, started now, see $1=$2 in its environment ("": unset or not exported)?
_devbox_is() {
    if [[ ${parameters[$1]-} == *export* ]]; then
        [[ ${(P)1-} == "$2" ]]
    else
        [[ -z $2 ]]
    fi
}

# Is there a devbox command on PATH (not this function)?
_devbox_on_path() {
    whence -p devbox >/dev/null
}

_devbox_install_hook() {
    autoload -Uz add-zsh-hook
    add-zsh-hook precmd _devbox_hook
    add-zsh-hook chpwd _devbox_hook
}

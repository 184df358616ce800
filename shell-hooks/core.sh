# shellcheck shell=bash
# devbox auto-activation, the part bash and zsh share (valid in both): devbox renders it
# followed by the shell's own tail, bash.sh or zsh.zsh (devbox/activation/hook.py), filling in
# how to start devbox and the shell's name.
#
# At each prompt, with nothing changed, this runs shell builtins only: it compares $PWD with the
# last one seen, and the project's devbox.toml and devbox's trust directory with stamp files
# whose mtimes mirror theirs ([[ -nt ]] / [[ -ot ]]). Only on a change does it start devbox,
# once, to get the code to eval; entering a project devbox activated before, with nothing
# changed since, sources what devbox kept for it instead (devbox/activation/hookcache.py).
# Its state is in shell variables that are never exported.
# The tail defines what differs: _devbox_set, _devbox_is, _devbox_on_path, _devbox_install_hook.

_devbox_run() {
    __DEVBOX_RUN__ "$@"
}

_devbox_cache=__DEVBOX_CACHE__ # devbox's kept activations for this shell ("": none)

_devbox_activated() {
    _devbox_active=$1
    _devbox_mark="(devbox:$1) "
    PS1="$_devbox_mark${PS1-}"
}

_devbox_watch() {
    _devbox_sm=$1 _devbox_td=$2 _devbox_tm=$3 _devbox_said=$4
}

# While the project is active the shell holds its box up (devbox/sandbox/holds.py): an fd on
# the holds FIFO ($1), no process; and the box is started in the background through its launcher
# ($2), only when that is current (never a build, nothing on the terminal). DEVBOX_HOLD=0: neither.
_devbox_hold() {
    _devbox_unhold
    [[ ${DEVBOX_HOLD-} != 0 ]] || return 0
    _devbox_hfifo=$1
    _devbox_grab || return 0
    [[ -x $2 ]] || return 0
    (
        eval "exec $_devbox_hfd>&-"
        _DEVBOX_START_ONLY=1 "$2" true &
    ) </dev/null >/dev/null 2>&1
}

# Open the holds FIFO (devbox's own, never the box's to write), if it is there yet, on a free
# fd of one digit: the shell's commands inherit it, and a box supervisor one of them starts
# (a POSIX sh, which names fds of one digit only) must be able to close it.
_devbox_grab() {
    [[ -z ${_devbox_hfd-} && -p $_devbox_hfifo && -O $_devbox_hfifo ]] || return 1
    local n
    for n in 9 8 7 6 5 4 3; do
        if [[ ! -L /proc/$$/fd/$n ]]; then
            eval "exec $n<>\"\$_devbox_hfifo\"" && _devbox_hfd=$n
            return
        fi
    done
    return 1
}

# Close the fd, unless something else took its number since.
_devbox_unhold() {
    if [[ -n ${_devbox_hfd-} && /proc/$$/fd/$_devbox_hfd -ef ${_devbox_hfifo-} ]]; then
        eval "exec $_devbox_hfd>&-"
    fi
    _devbox_hfd='' _devbox_hfifo=''
}

# Put the environment and the prompt back exactly as they were before activation.
_devbox_deactivate() {
    [[ -n ${_devbox_undo-}${_devbox_active-} ]] || return 1
    _devbox_unhold
    if [[ -n ${_devbox_mark-} ]]; then
        PS1=${PS1#"$_devbox_mark"}
    fi
    eval "${_devbox_undo-}"
    _devbox_undo='' _devbox_active='' _devbox_mark=''
}

# The nearest devbox.toml at or above $PWD, into _devbox_found.
_devbox_find() {
    local d=${PWD%/}
    while :; do
        if [[ -f $d/devbox.toml ]]; then
            _devbox_found=$d/devbox.toml
            return
        fi
        [[ -n $d ]] || break
        d=${d%/*}
    done
    _devbox_found=
}

# Has file $1 changed since the stamp $2 was made to mirror its mtime?
_devbox_stale() {
    if [[ -e $1 ]]; then
        [[ ! -e $2 || $1 -nt $2 || $1 -ot $2 ]]
    else
        [[ -e $2 ]]
    fi
}

# Has file $1 kept the mtime of stamp $2, and is it not a symlink?
_devbox_same() {
    [[ ! -h $1 ]] && ! _devbox_stale "$1" "$2"
}

# Is any of the files after $1 newer than the stamp $1 (or is the stamp missing)?
_devbox_newer() {
    local stamp=$1 f
    shift
    [[ -e $stamp ]] || return 0
    for f; do
        [[ $f -nt $stamp ]] && return 0
    done
    return 1
}

# Source what devbox kept for this spec (its name: the path with % and / escaped); it activates
# only if its guard finds nothing changed since (then _devbox_sm is set).
_devbox_cached() {
    [[ -n $_devbox_cache ]] || return 1
    local _devbox_f=${_devbox_spec//"%"/%25}
    _devbox_f=$_devbox_cache/${_devbox_f//\//%2F}
    [[ -O $_devbox_f && ! -h $_devbox_f && -O $_devbox_cache ]] || return 1
    # shellcheck source=/dev/null # written by devbox for this spec (hookcache.py)
    . "$_devbox_f"
    [[ -n $_devbox_sm ]]
}

# Deactivate, then ask devbox about the nearest spec. `again`: the same spec was seen to change
# (devbox does not repeat a refusal it already printed for it).
_devbox_reload() {
    local _devbox_was= # (the code eval'd below sets variables: no local may share a name)
    [[ ${1-} == again ]] && _devbox_was=${_devbox_said-}
    _devbox_deactivate
    _devbox_pwd=$PWD
    _devbox_find
    _devbox_spec=$_devbox_found
    _devbox_sm='' _devbox_td='' _devbox_tm='' _devbox_said=''
    [[ $_devbox_spec == "${_devbox_off-}" ]] || _devbox_off=
    if [[ -z $_devbox_spec || $_devbox_spec == "$_devbox_off" ]]; then
        return
    fi
    _devbox_cached && return
    eval "$(_devbox_run _hook-env __DEVBOX_SHELL__ "$_devbox_spec" "$_devbox_was")"
    if [[ -z $_devbox_sm ]]; then # devbox said nothing: wait for another directory
        _devbox_sm=$_devbox_spec _devbox_td=$_devbox_spec _devbox_tm=$_devbox_spec
    fi
}

_devbox_hook() {
    local _devbox_rc=$?
    if [[ $PWD != "${_devbox_pwd-}" ]]; then
        _devbox_pwd=$PWD
        _devbox_find
        if [[ $_devbox_found != "${_devbox_spec-}" ]]; then
            _devbox_reload
            return $_devbox_rc
        fi
    fi
    if [[ -n ${_devbox_sm-} ]] &&
        { _devbox_stale "$_devbox_spec" "$_devbox_sm" || _devbox_stale "$_devbox_td" "$_devbox_tm"; }; then
        _devbox_reload again
    fi
    if [[ -n ${_devbox_hfifo-} && -z ${_devbox_hfd-} && -p $_devbox_hfifo ]]; then
        _devbox_grab # the box was made since the project was activated: hold it now
    fi
    return $_devbox_rc
}

# `devbox deactivate` leaves the project's box until the shell leaves the project.
devbox() {
    if [[ ${1-} == deactivate && $# == 1 ]]; then
        if ! _devbox_deactivate; then
            echo "devbox: no box is active in this shell" >&2
            return 1
        fi
        _devbox_off=${_devbox_spec-} _devbox_sm=''
    elif _devbox_on_path; then
        command devbox "$@"
    else
        _devbox_run "$@"
    fi
}

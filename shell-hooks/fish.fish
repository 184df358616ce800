# devbox auto-activation for fish: `devbox hook fish | source` in ~/.config/fish/config.fish.
# Rendered by devbox (devbox/activation/hook.py), which fills in how to start devbox.
#
# At each prompt, with nothing changed, this runs fish builtins only: it compares $PWD with the
# last one seen, and the mtimes (`path mtime`) of the project's devbox.toml and of devbox's trust
# directory with the ones devbox saw. Only on a change does it start devbox, once, to get the
# code to source. Its state is in global variables that are never exported.

function _devbox_run
    __DEVBOX_RUN__ $argv
end

set -g _devbox_cache __DEVBOX_CACHE__ # devbox's kept activations for this shell ("": none)

function _devbox_status --description 'set $status'
    return $argv[1]
end

# Remember how variable $name is now (value, exported or not, or unset), then export it as $value.
function _devbox_set --argument-names name value
    if set -qg $name
        set -g _devbox_old_$name $$name
        set -ga _devbox_had $name
        if set -qgx $name
            set -ga _devbox_exp $name
        end
    end
    set -ga _devbox_vars $name
    set -gx $name $value
end

function _devbox_activated --argument-names name
    set -g _devbox_active $name
    set -g _devbox_mark "(devbox:$name) "
    functions -q _devbox_old_prompt; and functions -e _devbox_old_prompt
    functions -q fish_prompt; and functions -c fish_prompt _devbox_old_prompt
    function fish_prompt
        set -l last $status
        printf '%s' $_devbox_mark
        if functions -q _devbox_old_prompt
            _devbox_status $last
            _devbox_old_prompt
        end
    end
end

function _devbox_watch
    set -g _devbox_sm $argv[1]
    set -g _devbox_td $argv[2]
    set -g _devbox_tm $argv[3]
    set -g _devbox_said $argv[4]
end

# While the project is active the shell holds its box up (devbox/sandbox/holds.py). fish keeps
# no fd of its own open, so one holder process per activation holds the holds FIFO ($argv[1]):
# it starts the box in the background through its launcher ($argv[2]) when that is current,
# then becomes `tail --pid=FISH`, which ends with this shell however it ends; deactivation and
# fish_exit end it sooner. DEVBOX_HOLD=0: none of this.
function _devbox_hold
    _devbox_unhold
    test "$DEVBOX_HOLD" != 0; or return 0
    set -g _devbox_hfifo $argv[1]
    _devbox_grab $argv[2]
end

# Start the holder, if the holds FIFO (devbox's own, never the box's to write) is there yet.
function _devbox_grab --argument-names launcher
    set -q _devbox_holder[1]; and return 1
    test -p "$_devbox_hfifo" -a -O "$_devbox_hfifo"; or return 1
    command sh -c 'exec 3<>"$1" || exit 1
        [ ! -x "$2" ] || _DEVBOX_START_ONLY=1 "$2" true 3>&- &
        exec tail --pid="$3" -f /dev/null' devbox-hold $_devbox_hfifo "$launcher" $fish_pid \
        </dev/null >/dev/null 2>&1 &
    set -g _devbox_holder $last_pid
    disown $last_pid 2>/dev/null
end

function _devbox_unhold
    if set -q _devbox_holder[1]
        # still our holder (not a process that took its pid since)?
        set -l words
        test -r /proc/$_devbox_holder/cmdline
        and set words (string split0 </proc/$_devbox_holder/cmdline)
        if contains -- --pid=$fish_pid $words; or contains -- devbox-hold $words
            command kill $_devbox_holder 2>/dev/null
        end
    end
    set -e _devbox_holder
    set -e _devbox_hfifo
end

function _devbox_on_exit --on-event fish_exit
    _devbox_unhold
end

# Put the environment and the prompt back exactly as they were before activation.
function _devbox_deactivate
    if not set -q _devbox_active[1]; and not set -q _devbox_vars[1]
        return 1
    end
    _devbox_unhold
    if set -q _devbox_mark
        functions -e fish_prompt
        if functions -q _devbox_old_prompt
            functions -c _devbox_old_prompt fish_prompt
            functions -e _devbox_old_prompt
        end
        set -e _devbox_mark
    end
    for name in $_devbox_vars
        set -eg $name
        if contains -- $name $_devbox_had
            set -l old _devbox_old_$name
            if contains -- $name $_devbox_exp
                set -gx $name $$old
            else
                set -gu $name $$old
            end
            set -eg $old
        end
    end
    set -e _devbox_vars _devbox_had _devbox_exp _devbox_active
    return 0
end

# The nearest devbox.toml at or above $PWD, into _devbox_found. A directory name may hold a
# newline: a command substitution would split it, so each parent comes NUL-terminated.
function _devbox_find
    set -l d $PWD
    while true
        set -l f "$d/devbox.toml"
        test "$d" = /; and set f /devbox.toml
        if test -f "$f"
            set -g _devbox_found $f
            return
        end
        test "$d" = /; and break
        set d (path dirname -Z -- $d | string split0)
    end
    set -g _devbox_found ''
end

# Has file $argv[1] kept the mtime $argv[2] (whole seconds, "" if missing), not a symlink?
function _devbox_same
    not test -L $argv[1]; and test "$(path mtime -- $argv[1])" = "$argv[2]"
end

# Have the files after $argv[1] the mtimes it lists (space-separated)?
function _devbox_mtimes
    test "$(path mtime -- $argv[2..-1] | string join ' ')" = "$argv[1]"
end

# Would devbox, started now, see $argv[1]=$argv[2] in its environment ("": unset or not
# exported)? A list is exported joined as "$name" joins it (with `:` for a path variable).
function _devbox_is --argument-names name value
    if set -qx $name
        test "$$name" = "$value"
    else
        test -z "$value"
    end
end

# Source what devbox kept for this spec (its name: the path with % and / escaped); it activates
# only if its guard finds nothing changed since (then _devbox_sm is set).
function _devbox_cached
    test -n "$_devbox_cache"; or return 1
    set -l f $_devbox_cache/(string replace -a -- % %25 $_devbox_spec | string replace -a -- / %2F | string collect)
    test -O $f; and not test -L $f; and test -O $_devbox_cache; or return 1
    source $f
    test -n "$_devbox_sm"
end

# Deactivate, then ask devbox about the nearest spec. `again`: the same spec was seen to change
# (devbox does not repeat a refusal it already printed for it).
function _devbox_reload
    set -l said
    test "$argv[1]" = again; and set said "$_devbox_said"
    _devbox_deactivate
    set -g _devbox_pwd $PWD
    _devbox_find
    set -g _devbox_spec $_devbox_found
    set -g _devbox_sm ''
    set -g _devbox_said ''
    test "$_devbox_spec" = "$_devbox_off"; or set -g _devbox_off ''
    if test -z "$_devbox_spec"; or test "$_devbox_spec" = "$_devbox_off"
        return
    end
    _devbox_cached; and return
    _devbox_run _hook-env fish $_devbox_spec "$said" | source
    if test -z "$_devbox_sm" # devbox said nothing: wait for another directory or an edit
        set -l m (path mtime -- $_devbox_spec)
        _devbox_watch "$m" $_devbox_spec "$m"
    end
end

function _devbox_hook
    set -l last $status
    if test "$PWD" != "$_devbox_pwd"
        set -g _devbox_pwd $PWD
        _devbox_find
        if test "$_devbox_found" != "$_devbox_spec"
            _devbox_reload
            return $last
        end
    end
    if test -n "$_devbox_sm"
        if test "$(path mtime -- $_devbox_spec)" != "$_devbox_sm"
            or test "$(path mtime -- $_devbox_td)" != "$_devbox_tm"
            _devbox_reload again
        end
    end
    if set -q _devbox_hfifo[1]; and not set -q _devbox_holder[1]; and test -p "$_devbox_hfifo"
        _devbox_grab '' # the box was made since the project was activated: hold it now
    end
    return $last
end

# `devbox deactivate` leaves the project's box until the shell leaves the project.
function devbox
    if test "$argv" = deactivate
        if not _devbox_deactivate
            echo "devbox: no box is active in this shell" >&2
            return 1
        end
        set -g _devbox_off $_devbox_spec
        set -g _devbox_sm ''
    else if command -q devbox
        command devbox $argv
    else
        _devbox_run $argv
    end
end

function _devbox_install_hook
    function _devbox_on_prompt --on-event fish_prompt
        _devbox_hook
    end
    function _devbox_on_pwd --on-variable PWD
        _devbox_hook
    end
end

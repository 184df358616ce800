#!/bin/sh
# devbox-launcher 1: hands every command over to `devbox run`, which runs it in the project's
# box: this box needs Python each time (its [env] reads host variables, or it has more inputs
# than a launcher watches). Written by devbox (launcher.py, from launcher-handover.sh.in) each
# time it enters the box; do not edit. Usage: launcher CMD [ARG...]
# _DEVBOX_START_ONLY=1: only start the box (the shell hook, on cd), never hand over
# n: "" when the first word may name a [scripts] entry (`devbox run NAME`), else "--"
n=--; [ "${DEVBOX_RUN_SCRIPT-}" != 1 ] || n=
handover() { [ -z "${_DEVBOX_START_ONLY-}" ] || exit 0; exec 7>&- 8>&-; DEVBOX_HOME='/nonexistent/golden store' DEVBOX_LAUNCHER_SPEC='/nonexistent/golden/my '"'"'project'"'"' $x/devbox.toml' exec '/opt/py thon/bin/python3' -m devbox run ${n:+"$n"} "$@"; }
handover "$@"

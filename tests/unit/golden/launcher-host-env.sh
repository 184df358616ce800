#!/bin/sh
# devbox-launcher 1: runs a command in the box of /nonexistent/golden/my 'project' $x
# Written by devbox (launcher.py) each time it enters the box; do not edit.
# Usage: launcher CMD [ARG...]  (the current directory is kept; stdio and exit
# status pass through). Anything stale or unusual hands over to `devbox run`.
handover() { exec 7>&- 8>&-; DEVBOX_HOME='/nonexistent/golden store' DEVBOX_LAUNCHER_SPEC='/nonexistent/golden/my '"'"'project'"'"' $x/devbox.toml' exec '/opt/py thon/bin/python3' -m devbox run -- "$@"; }
handover "$@"

#!/bin/sh
# devbox: `sudo` for a box that has none of its own (written by devbox from sudo.sh.in into its
# rc dir, last on the box's PATH). Root in a box is asked for from the host: it says how.
# A session that is root in the box already (`--root`: it holds capabilities) runs the command.
while IFS=' 	' read -r key value; do
  if [ "$key" = CapEff: ]; then
    case $value in
      *[!0]*) case ${1--} in -*) ;; *) exec "$@" ;; esac ;;
    esac
  fi
done < /proc/self/status
printf '%s\n' >&2 \
  "devbox: there is no sudo in this box; to be root in it, ask from the host (in the project):" \
  "  devbox shell --root           a shell as root in the box" \
  "  devbox run --root -- CMD      one command, e.g. devbox run --root -- apt-get install PKG" \
  "hint: what root changes goes to the box's writable layer (\`devbox reset\` empties it); a" \
  "      package the box should always have goes in devbox.toml: [packages] apt = [\"PKG\"]"
exit 1

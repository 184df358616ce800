#!/bin/sh
# devbox-launcher 1: runs a command in the box of the project below (see `case $PWD`)
# Written by devbox (launcher.py, from launcher.sh.in) each time it enters the box; do not edit.
# Usage: launcher CMD [ARG...]  (the current directory is kept; stdio and exit
# status pass through). Anything stale or unusual hands over to `devbox run`.
# _DEVBOX_START_ONLY=1: only start the box (the shell hook, on cd), never hand over
# n: "" when the first word may name a [scripts] entry (`devbox run NAME`), else "--"
n=--; [ "${DEVBOX_RUN_SCRIPT-}" != 1 ] || n=
handover() { [ -z "${_DEVBOX_START_ONLY-}" ] || exit 0; exec 7>&- 8>&-; DEVBOX_HOME='/nonexistent/golden store' DEVBOX_LAUNCHER_SPEC='/nonexistent/golden/my '"'"'project'"'"' $x/devbox.toml' exec '/opt/py thon/bin/python3' -m devbox run ${n:+"$n"} "$@"; }
full() { for f in "$1"/* "$1"/.[!.]* "$1"/..?*; do { [ -e "$f" ] || [ -L "$f" ]; } && return 0; done; return 1; }
S='/nonexistent/golden store/projects/488923af6bd420e4/launcher.d/18f-42'
P='/nonexistent/golden store/projects/488923af6bd420e4'
[ -O "$P" ] || handover "$@"  # the user's own (see devbox/front.sh), as what it reads from there
# dash, bash and busybox sh compare mtimes to the nanosecond
# shellcheck disable=SC3013
changed() { [ ! -e "$2" ] || [ ! -e "$1" ] || [ "$1" -nt "$2" ] || [ "$1" -ot "$2" ]; }
[ $# -gt 0 ] || handover "$@"
# -ef too: a [share] bind's host path still leads where it did (dash, bash and busybox sh)
# shellcheck disable=SC3013
if ! [ -f '/nonexistent/golden store/layers/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/meta.json' ] ||
  ! [ -f '/nonexistent/golden store/layers/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/meta.json' ] ||
  ! [ -d '/nonexistent/golden store/projects/488923af6bd420e4/run' ] ||
  ! [ -d '/nonexistent/golden store/projects/488923af6bd420e4/rc' ] ||
  ! [ -d '/nonexistent/golden store/projects/488923af6bd420e4/upper' ] ||
  ! [ -d '/nonexistent/golden store/projects/488923af6bd420e4/work' ] ||
  ! [ -d '/nonexistent/golden store/projects/488923af6bd420e4/merged' ] ||
  ! [ -d '/nonexistent/golden store/projects/488923af6bd420e4/home' ] ||
  changed '/nonexistent/golden/my '"'"'project'"'"' $x/devbox.toml' "$S/0" ||
  [ -e '/nonexistent/golden/my '"'"'project'"'"' $x/devbox.lock' ] ||
  changed '/nonexistent/golden/my '"'"'project'"'"' $x/conf/file 0' "$S/2" ||
  [ "${HOME-}" != /home/alice ] ||
  [ "${DEVBOX_LINGER-}" != 60 ] ||
  [ "${SSL_CERT_FILE-}" != /etc/ssl/certs/ca-certificates.crt ] ||
  [ "${DEVBOX_HOST_CA-}" != '' ] ||
  [ "${XDG_CONFIG_HOME-}" != '' ] ||
  [ "${GIT_CONFIG_GLOBAL-}" != '' ]
then handover "$@"; fi
have=
[ -f "$P/upper.stack" ] || handover "$@"
while IFS= read -r l || [ -n "$l" ]; do have="$have$l "; done < "$P/upper.stack"
[ "$have" = 'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb ' ] || handover "$@"
cd -P . 2>/dev/null || handover "$@"
case $PWD in
  '/nonexistent/golden/my '"'"'project'"'"' $x'|'/nonexistent/golden/my '"'"'project'"'"' $x'/*) c='/nonexistent/golden/my '"'"'project'"'"' $x'${PWD#'/nonexistent/golden/my '"'"'project'"'"' $x'} ;;
  '/nonexistent/r e'|'/nonexistent/r e'/*) c='/nonexistent/golden/my '"'"'project'"'"' $x'${PWD#'/nonexistent/r e'} ;;
  *) c='/nonexistent/golden/my '"'"'project'"'"' $x' ;;
esac
[ -n "$c" ] || c=/
Q=$P/run/sessions.fifo; F=$P/run/supervisor.pid
H='/bin/sh-c: devbox-box-2 '"'"'/nonexistent/golden store/projects/488923af6bd420e4/run/supervisor.pid'"'"''
alive() { [ -n "$pid" ] && { IFS= read -r l 2>/dev/null < "/proc/$pid/cmdline"; } && [ "$l" = "$H" ]; }
[ -p "$Q" ] && exec 8<>"$Q" && echo >&8 || handover "$@"
pid=; [ ! -f "$F" ] || read -r pid < "$F"
if ! alive; then
  exec 7>>"$P/run/start.lock" && /usr/bin/flock -x 7 || handover "$@"
  pid=; [ ! -f "$F" ] || read -r pid < "$F"
  if ! alive; then
    [ ! -e "$F" ] || handover "$@"  # a supervisor died: let devbox look for orphans
    full "$P/home" || handover "$@"
    echo f148ebe47d2a9205d74b395d41d98a44efc8d391be7389692778d2536dbc5357 > "$P/run/stack.ids"
    # $(...) returns once the supervisor closes fd 3: its pid file is written
    # shellcheck disable=SC2034
    ready=$(PATH=/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C /usr/bin/setsid /usr/bin/unshare --mount --propagation private -- /bin/sh -c ': devbox-box-2 '"'"'/nonexistent/golden store/projects/488923af6bd420e4/run/supervisor.pid'"'"'
set -eu
trap '"'"''"'"' INT HUP QUIT TSTP
stop=
trap '"'"'stop=1'"'"' USR1
merged=$3 pidfile=$4 fifo=$5 pwline=$6 grline=$7 startlock=$8
case ${9-} in '"'"''"'"'|*[!0-9]*) linger=0 ;; *) linger=$9 ;; esac
cd "$1"
exec 6<>"$fifo"
exec 9<"$fifo"
exec 6>&-
run=${fifo%/*}
# Shells that hold the box up (holds.py: the holds FIFO beside the sessions one) are not
# sessions: they only keep it from lingering out. A shell'"'"'s fd (one digit, so sh can close
# it), inherited by a command of that shell that started this, must not hold it up forever.
holds=$run/holds.fifo
for f in /proc/self/fd/?; do
  # dash, bash and busybox sh have -ef
  # shellcheck disable=SC3013
  [ ! "$f" -ef "$holds" ] || eval "exec ${f##*/}>&-"
done
printf '"'"'%s\n'"'"' "$2" > "$run/fstab"
# A box path made of real directories only, made where missing: a symlink the box planted is
# never followed out of it to make or mount anything on the host (the box is not running now).
real_dir() {
  cd -P "$merged"
  rest=${1#/}
  while [ -n "$rest" ]; do
    c=${rest%%/*}
    if [ "$c" = "$rest" ]; then rest=; else rest=${rest#*/}; fi
    case $c in '"'"''"'"' | .) continue ;; ..) exit 1 ;; esac
    if [ -L "$c" ]; then
      echo "devbox: the box'"'"'s $1 goes through a symbolic link made in the box; devbox does not mount through one (devbox reset discards the box'"'"'s changes)" >&2
      exit 1
    fi
    [ -d "$c" ] || mkdir -m 755 "$c"
    cd -P "$c"
  done
}
# The box'"'"'s network: "" (the host'"'"'s), "none" (loopback only) or "private PORTS..." (a user-mode
# stack, started by network.sh.in, which waits on net.pipe, fd 4, for the namespace to exist
# and answers on net.ready once it is up). Recorded in run/network for whoever joins the box.
shift 9
net=$1
shift
umask 022  # what sessions read: the user'"'"'s in every tier
printf '"'"'%s\n'"'"' "$net" > "$run/network"
case $net in
  none) ip link set lo up ;;
  private*)
    echo $$ >&4
    ok=
    IFS= read -r ok < "$run/net.ready" || :
    if [ "$ok" != ok ]; then
      echo "devbox: the box'"'"'s private network could not be set up (slirp4netns, above)" >&2
      exit 1
    fi
    printf '"'"'nameserver 10.0.2.3\n'"'"' > "$run/resolv.conf"
    ;;
esac
# The rest of the arguments: the box path of each fstab line after the first (the overlay), an
# empty one before a line that must wait for the lines before it to be mounted (it lies in one).
batch=$run/fstab.batch
: > "$batch"
first=1
while IFS= read -r line; do
  if [ -n "$first" ]; then
    printf '"'"'%s\n'"'"' "$line" > "$batch"
    mount -a -T "$batch"
    : > "$batch"
    first=
    continue
  fi
  [ $# -gt 0 ] || { echo "devbox: more mounts than mount points" >&2; exit 1; }
  if [ -z "$1" ]; then
    mount -a -T "$batch"
    : > "$batch"
    shift
  fi
  real_dir "$1"
  shift
  printf '"'"'%s\n'"'"' "$line" >> "$batch"
done < "$run/fstab"
mount -a -T "$batch"
add() {
  [ -n "$1" ] || return 0
  (
    cd -P "$3" && m=$PWD && cd -P etc && [ "$PWD" = "$m/etc" ] || exit 0
    if dd if="$2" iflag=nofollow,nonblock 2>/dev/null | grep -q "^${1%%:*}:"; then exit 0; fi
    printf '"'"'%s\n'"'"' "$1" | dd of="$2" oflag=nofollow,nonblock,append conv=notrunc 2>/dev/null
  ) || :
}
add "$pwline" passwd "$merged"
add "$grline" group "$merged"
umask 022
ready() { echo $$ > "$pidfile"; }
ready
exec 3>&-
nap() { sleep "$1" & wait $! || :; kill $! 2>/dev/null || :; }
nobody() {
  r=$(dd if="${1-$fifo}" iflag=nonblock bs=65536 count=1 2>&1 >/dev/null) || return 1
  case $r in "0+0 records in"*) return 0 ;; esac
  return 1
}
held() { [ -p "$holds" ] && ! nobody "$holds"; }
tick=5
[ "$linger" -ge "$tick" ] || tick=$linger
poll=$tick
[ "$poll" -gt 0 ] || poll=1
idle=0
while :; do
  while IFS= read -r _ <&9; do idle=0; done
  [ -z "$stop" ] || break
  if held; then  # polled: a shell holds it, with no process of its own
    idle=0
    nap "$poll"
    continue
  fi
  [ "$idle" -gt 0 ] || : > "$run/idle"  # its mtime: when the box began to linger
  if [ "$idle" -lt "$linger" ]; then
    nap "$tick"
    idle=$((idle + tick))
    continue
  fi
  exec 7>>"$startlock"
  if flock -x -n 7; then
    rm -f "$pidfile"
    if nobody && ! held; then break; fi
    ready
    idle=0
  else
    nap 0.2
  fi
  exec 7>&-
done
rm -f "$pidfile"
umount -R "$merged"
' devbox-box '/nonexistent/golden store' 'devbox /nonexistent/golden\040store/projects/488923af6bd420e4/merged overlay lowerdir=layers/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/rootfs:layers/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/rootfs,upperdir=projects/488923af6bd420e4/upper,workdir=projects/488923af6bd420e4/work,redirect_dir=nofollow,metacopy=off,index=off,xino=off 0 0
devbox-tmp /nonexistent/golden\040store/projects/488923af6bd420e4/merged/tmp tmpfs mode=1777,nosuid,nodev 0 0
devbox-run /nonexistent/golden\040store/projects/488923af6bd420e4/merged/run tmpfs mode=755,nosuid,nodev 0 0
/nonexistent/golden\040store/projects/488923af6bd420e4/home /nonexistent/golden\040store/projects/488923af6bd420e4/merged/home/alice none rbind,X-mount.mkdir 0 0
/nonexistent/golden/my\040'"'"'project'"'"'\040$x /nonexistent/golden\040store/projects/488923af6bd420e4/merged/nonexistent/golden/my\040'"'"'project'"'"'\040$x none rbind,X-mount.mkdir 0 0
/nonexistent/golden\040store/projects/488923af6bd420e4/rc /nonexistent/golden\040store/projects/488923af6bd420e4/merged/run/devbox none bind,ro,X-mount.mkdir 0 0' '/nonexistent/golden store/projects/488923af6bd420e4/merged' '/nonexistent/golden store/projects/488923af6bd420e4/run/supervisor.pid' '/nonexistent/golden store/projects/488923af6bd420e4/run/sessions.fifo' '' '' '/nonexistent/golden store/projects/488923af6bd420e4/run/start.lock' 60 '' /tmp /run /home/alice '/nonexistent/golden/my '"'"'project'"'"' $x' '' /run/devbox 3>&1 >"$P/run/supervisor.log" 2>&1 </dev/null 7>&- 8>&- &)
    pid=; [ ! -f "$F" ] || read -r pid < "$F"
    alive || handover "$@"
  fi
  exec 7>&-
fi
[ -z "${_DEVBOX_START_ONLY-}" ] || exit 0
[ -n "${TERM-}" ] || TERM=dumb
# a terminal on stdin: the command gets its signals, as on the host (devbox/sandbox/enter.py),
# and one that died of Ctrl-C is seen so by the caller (a shell running a script stops there)
ns=--new-session x=exec
if true && [ -t 0 ]; then ns='' x=''; trap '' INT QUIT; set -- /usr/bin/env --default-signal=INT,QUIT "$@"; fi
${x:+exec} /usr/bin/nsenter --target="$pid" --mount -- /usr/bin/bwrap --clearenv ${COLORTERM+--setenv} ${COLORTERM+COLORTERM} ${COLORTERM+"$COLORTERM"} ${HTTPS_PROXY+--setenv} ${HTTPS_PROXY+HTTPS_PROXY} ${HTTPS_PROXY+"$HTTPS_PROXY"} ${HTTP_PROXY+--setenv} ${HTTP_PROXY+HTTP_PROXY} ${HTTP_PROXY+"$HTTP_PROXY"} ${NO_COLOR+--setenv} ${NO_COLOR+NO_COLOR} ${NO_COLOR+"$NO_COLOR"} ${NO_PROXY+--setenv} ${NO_PROXY+NO_PROXY} ${NO_PROXY+"$NO_PROXY"} --setenv TERM "$TERM" ${TZ+--setenv} ${TZ+TZ} ${TZ+"$TZ"} ${http_proxy+--setenv} ${http_proxy+http_proxy} ${http_proxy+"$http_proxy"} ${https_proxy+--setenv} ${https_proxy+https_proxy} ${https_proxy+"$https_proxy"} ${no_proxy+--setenv} ${no_proxy+no_proxy} ${no_proxy+"$no_proxy"} --setenv CURL_CA_BUNDLE /run/devbox/host-ca.pem --setenv DEVBOX_BOX my--project---x --setenv DEVBOX_PROJECT '/nonexistent/golden/my '"'"'project'"'"' $x' --setenv GIT_SSL_CAINFO /run/devbox/host-ca.pem --setenv HOME /home/alice --setenv LANG C.UTF-8 --setenv LOGNAME alice --setenv NODE_EXTRA_CA_CERTS /run/devbox/host-ca.pem --setenv PATH /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin:/run/devbox/bin --setenv PIP_CERT /run/devbox/host-ca.pem --setenv REQUESTS_CA_BUNDLE /run/devbox/host-ca.pem --setenv SHELL /bin/bash --setenv SSL_CERT_FILE /run/devbox/host-ca.pem --setenv USER alice --bind '/nonexistent/golden store/projects/488923af6bd420e4/merged' / --proc /proc --dev /dev --ro-bind-try /sys /sys --ro-bind-try /etc/resolv.conf /etc/resolv.conf --ro-bind-try /etc/hosts /etc/hosts --chdir "$c" --unshare-pid --unshare-uts --unshare-ipc --hostname my--project---x --die-with-parent ${ns:+--new-session} --cap-drop ALL --seccomp 3 -- "$@" 3<"$S/seccomp.bpf"
s=$?; [ "$s" != 130 ] || { trap - INT; kill -INT $$; }; exit "$s"

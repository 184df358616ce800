: devbox-box-2 '/nonexistent/golden store/projects/0123456789abcdef/run/supervisor.pid'
set -eu
trap '' INT HUP QUIT TSTP
stop=
trap 'stop=1' USR1
merged=$3 pidfile=$4 fifo=$5 pwline=$6 grline=$7 startlock=$8
case ${9-} in ''|*[!0-9]*) linger=0 ;; *) linger=$9 ;; esac
cd "$1"
exec 6<>"$fifo"
exec 9<"$fifo"
exec 6>&-
run=${fifo%/*}
# Shells that hold the box up (holds.py: the holds FIFO beside the sessions one) are not
# sessions: they only keep it from lingering out. A shell's fd (one digit, so sh can close
# it), inherited by a command of that shell that started this, must not hold it up forever.
holds=$run/holds.fifo
for f in /proc/self/fd/?; do
  # dash, bash and busybox sh have -ef
  # shellcheck disable=SC3013
  [ ! "$f" -ef "$holds" ] || eval "exec ${f##*/}>&-"
done
printf '%s\n' "$2" > "$run/fstab"
# A box path made of real directories only, made where missing: a symlink the box planted is
# never followed out of it to make or mount anything on the host (the box is not running now).
real_dir() {
  cd -P "$merged"
  rest=${1#/}
  while [ -n "$rest" ]; do
    c=${rest%%/*}
    if [ "$c" = "$rest" ]; then rest=; else rest=${rest#*/}; fi
    case $c in '' | .) continue ;; ..) exit 1 ;; esac
    if [ -L "$c" ]; then
      echo "devbox: the box's $1 goes through a symbolic link made in the box; devbox does not mount through one (devbox reset discards the box's changes)" >&2
      exit 1
    fi
    [ -d "$c" ] || mkdir -m 755 "$c"
    cd -P "$c"
  done
}
# The box's network: "" (the host's), "none" (loopback only) or "private PORTS..." (a user-mode
# stack, started by network.sh.in, which waits on net.pipe, fd 4, for the namespace to exist
# and answers on net.ready once it is up). Recorded in run/network for whoever joins the box.
shift 9
net=$1
shift
umask 022  # what sessions read: the user's in every tier
printf '%s\n' "$net" > "$run/network"
case $net in
  none) ip link set lo up ;;
  private*)
    echo $$ >&4
    ok=
    IFS= read -r ok < "$run/net.ready" || :
    if [ "$ok" != ok ]; then
      echo "devbox: the box's private network could not be set up (slirp4netns, above)" >&2
      exit 1
    fi
    printf 'nameserver 10.0.2.3\n' > "$run/resolv.conf"
    ;;
esac
# The rest of the arguments: the box path of each fstab line after the first (the overlay), an
# empty one before a line that must wait for the lines before it to be mounted (it lies in one).
batch=$run/fstab.batch
: > "$batch"
first=1
while IFS= read -r line; do
  if [ -n "$first" ]; then
    printf '%s\n' "$line" > "$batch"
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
  printf '%s\n' "$line" >> "$batch"
done < "$run/fstab"
mount -a -T "$batch"
add() {
  [ -n "$1" ] || return 0
  (
    cd -P "$3" && m=$PWD && cd -P etc && [ "$PWD" = "$m/etc" ] || exit 0
    if dd if="$2" iflag=nofollow,nonblock 2>/dev/null | grep -q "^${1%%:*}:"; then exit 0; fi
    printf '%s\n' "$1" | dd of="$2" oflag=nofollow,nonblock,append conv=notrunc 2>/dev/null
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

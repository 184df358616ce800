: devbox-box-2 '/nonexistent/golden store/projects/0123456789abcdef/run/supervisor.pid'
set -eu
trap '' INT HUP QUIT TSTP
stop=
trap 'stop=1' USR1
pidfile=$4 fifo=$5 startlock=$8
case ${9-} in ''|*[!0-9]*) linger=0 ;; *) linger=$9 ;; esac
cd "$1"
exec 6<>"$fifo"
exec 9<"$fifo"
exec 6>&-
printf '%s\n' "$2" > "${fifo%/*}/fstab"
mount -a -T "${fifo%/*}/fstab"
add() {
  [ -n "$1" ] || return 0
  (
    cd -P "$3" && m=$PWD && cd -P etc && [ "$PWD" = "$m/etc" ] || exit 0
    if dd if="$2" iflag=nofollow,nonblock 2>/dev/null | grep -q "^${1%%:*}:"; then exit 0; fi
    printf '%s\n' "$1" | dd of="$2" oflag=nofollow,nonblock,append conv=notrunc 2>/dev/null
  ) || :
}
add "$6" passwd "$3"
add "$7" group "$3"
umask 022
ready() { echo $$ > "$pidfile"; }
ready
exec 3>&-
nap() { sleep "$1" & wait $! || :; kill $! 2>/dev/null || :; }
nobody() {
  r=$(dd if="$fifo" iflag=nonblock bs=65536 count=1 2>&1 >/dev/null) || return 1
  case $r in "0+0 records in"*) return 0 ;; esac
  return 1
}
tick=5
[ "$linger" -ge "$tick" ] || tick=$linger
idle=0
while :; do
  while IFS= read -r _ <&9; do idle=0; done
  [ -z "$stop" ] || break
  if [ "$idle" -lt "$linger" ]; then
    nap "$tick"
    idle=$((idle + tick))
    continue
  fi
  exec 7>>"$startlock"
  if flock -x -n 7; then
    rm -f "$pidfile"
    if nobody; then break; fi
    ready
    idle=0
  else
    nap 0.2
  fi
  exec 7>&-
done
rm -f "$pidfile"
umount -R "$3"

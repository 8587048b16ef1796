#!/bin/sh
# Runs "$@" (a load or a store write) on what otter streams to this script's stdin, and
# stops feeding it when the run that streams is gone: its deploy lock's heartbeat older
# than $3 seconds, or the lock no longer its own. sshd never learns of a connection lost
# without a word (it has no keepalive of its own), so a load would otherwise wait on its
# input for hours, its half-written archive on disk. Fed no more, it sees the end of its
# input and cleans up as after any truncated upload. While bytes still arrive the run is not
# gone, however late its heartbeat (a controller short of CPU beats late, and a cut there
# truncated a load that was going well).
lock=$1 run=$2 limit=$3
shift 3
exec 3<&0
dir=$(mktemp -d) && mkfifo "$dir/in" || exit 1
trap 'rm -rf "$dir"' EXIT
"$@" < "$dir/in" 3<&- &
target=$!
cat <&3 > "$dir/in" &
feed=$!
exec 3<&-
gone() {  # the lock is another run's (or none), or its heartbeat stopped
  grep -qxF "run=$run" "$lock/info" 2>/dev/null || return 0
  beat=$(cat "$lock/heartbeat" 2>/dev/null)
  case $beat in ''|*[!0-9]*) return 0 ;; esac
  [ $(($(date +%s) - beat)) -gt "$limit" ]
}
# apart from the session's output: nobody reads it once the run is gone, and a sleep left
# holding it would keep the session open after the command
sent() { sed -n 's/^wchar: //p' "/proc/$feed/io" 2>/dev/null; }  # empty: cannot tell
last=""
while kill -0 "$feed" 2>/dev/null; do
  now=$(sent)
  if [ "$now" = "$last" ] && gone; then
    logger -t otter "the run $run stopped sending (its deploy lock went quiet): receiving stopped"
    : > "$dir/cut"
    kill "$feed"
    break
  fi
  last=$now
  sleep 2
done >/dev/null 2>&1 &
watch=$!
wait "$target"
status=$?
kill "$watch" "$feed" 2>/dev/null
# the receiver's own error (a truncated archive) follows from this: say it last, where the
# ship's error shows it
[ ! -f "$dir/cut" ] || echo "otter: the deploy lock of run $run went quiet and no byte came for 2 s: receiving stopped" >&2
exit "$status"

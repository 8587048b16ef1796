#!/bin/sh
# Runs "$@" (a load or a store write) on what otter streams to this script's stdin, and
# stops feeding it when the run that streams is gone: its deploy lock's heartbeat older
# than $3 seconds, or the lock no longer its own. sshd never learns of a connection lost
# without a word (it has no keepalive of its own), so a load would otherwise wait on its
# input for hours, its half-written archive on disk. Fed no more, it sees the end of its
# input and cleans up as after any truncated upload.
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
while kill -0 "$feed" 2>/dev/null; do
  if gone; then
    logger -t otter "the run $run stopped sending (its deploy lock went quiet): receiving stopped"
    kill "$feed"
    break
  fi
  sleep 2
done >/dev/null 2>&1 &
watch=$!
wait "$target"
status=$?
kill "$watch" "$feed" 2>/dev/null
exit "$status"

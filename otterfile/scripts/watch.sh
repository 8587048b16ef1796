# Runs a command (without input) so that it ends when otter does: our stdin stays open for
# as long as otter waits, and its end (otter stopped, killed, timed out, connection lost)
# makes the watcher stop the command's whole process group, then kill it.
#   watch.sh COMMAND [ARGUMENT]...
exec 3<&0
if command -v setsid >/dev/null 2>&1; then setsid "$@" </dev/null 3<&- &
else "$@" </dev/null 3<&- & fi
c=$!
{ while read -r _; do :; done <&3
  kill -TERM -"$c" "$c"; sleep 5; kill -KILL -"$c" "$c"; } >/dev/null 2>&1 &
w=$!
exec 3<&-
wait "$c"; s=$?
kill "$w" 2>/dev/null
exit "$s"

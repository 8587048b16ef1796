# watch_feed: stops what feeds a receiver from the ship's stream when the run that streams is
# gone: its deploy lock's heartbeat older than LIMIT seconds, or the lock no longer its own.
# sshd never learns of a connection lost without a word (it has no keepalive of its own), so
# a receiver would otherwise wait on its input for hours. While bytes still arrive the run
# is not gone, however late its heartbeat (a controller short of CPU beats late, and a cut
# there truncated a load that was going well). Functions the receive guard
# (receive-guard.sh) and the store's receive (store/receive.sh) include.
#   watch_feed PID LOCK RUN LIMIT MARK   polls every 2 s while PID (the process reading the
#                                        stream) lives; kills it and writes MARK on a cut
#   cut_said MARK RUN                    says on stderr why the receive stopped, after a cut

gone() {  # LOCK RUN LIMIT: the lock is another run's (or none), or its heartbeat stopped
  grep -qxF "run=$2" "$1/info" 2>/dev/null || return 0
  beat=$(cat "$1/heartbeat" 2>/dev/null)
  case $beat in ''|*[!0-9]*) return 0 ;; esac
  [ $(($(date +%s) - beat)) -gt "$3" ]
}

# apart from the session's output: nobody reads it once the run is gone, and a sleep left
# holding it would keep the session open after the command
watch_feed() {
  last=""
  while kill -0 "$1" 2>/dev/null; do
    now=$(sed -n 's/^rchar: //p' "/proc/$1/io" 2>/dev/null)  # empty: cannot tell
    if [ "$now" = "$last" ] && gone "$2" "$3" "$4"; then
      logger -t otter "the run $3 stopped sending (its deploy lock went quiet): receiving stopped"
      : > "$5"
      kill "$1"
      break
    fi
    last=$now
    sleep 2
  done >/dev/null 2>&1
}

# the receiver's own error (a truncated archive) follows from a cut: say it last, where the
# ship's error shows it
cut_said() {
  [ ! -f "$1" ] || echo "otter: the deploy lock of run $2 went quiet and no byte came for 2 s: receiving stopped" >&2
}

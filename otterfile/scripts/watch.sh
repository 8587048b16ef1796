# Runs a command (without input) so that it ends when otter does: our stdin stays open for
# as long as otter waits, and its end (otter stopped, killed, timed out, connection lost)
# makes the watcher stop the session's process group, then kill it. No sh, setsid or exec of
# its own: the login shell runs it as it runs any command line (the executor puts the line
# where otter_command stands, its secret env reads before the whole). sshd starts each
# session's shell as the leader of a session and process group of its own (OpenSSH's
# do_exec_no_pty calls setsid()); under a server that does not, only the command is stopped.
# (wait's stderr: bash would print how a killed command died, with this script's line.)
{ exec 3<&0
  ( otter_command ) </dev/null 3<&- &
  otter_c=$!
  { trap '' TERM
    while read -r _; do :; done
    if kill -0 -"$$"; then otter_g=-$$; else otter_g=$otter_c; fi
    kill -TERM "$otter_g"; sleep 5; kill -KILL "$otter_g"; } <&3 3<&- >/dev/null 2>&1 &
  otter_w=$!
  exec 3<&-
  wait "$otter_c" 2>/dev/null; otter_s=$?
  kill -KILL "$otter_w" 2>/dev/null
  exit "$otter_s"; }

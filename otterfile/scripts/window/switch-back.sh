# A rollback to the release kept for the rollback window, in the one round trip after the
# lock's (run/instant.py): the switch between its two state writes, then what the retire
# stage does (the release live until now kept for the window, the timer armed anew) and its
# state write, the deploy-log record and the unlock. A switch that failed ends it there:
# the caller takes it back and unlocks as after any failed switch. Each part ends with a
# line `--- otter:part NAME RC`.
switch=$1  # shell line: the switch between two state writes; it reads this script's stdin
retire=$2  # shell line: the retire stage's commands (they read no stdin)
f=$3       # releases.json
state=$4   # its text once the retire commands succeeded
logged=$5  # shell line: the deploy-log record when the retire part succeeded
failed=$6  # shell line: the deploy-log record when it failed
unlock=$7  # shell line: release the deploy lock
sh -c "$switch"; rc=$?
echo "--- otter:part switch $rc"
[ "$rc" -eq 0 ] || exit "$rc"
sh -c "$retire" </dev/null; rc=$?
if [ "$rc" -eq 0 ]; then  # each write a temporary file renamed, as state/around-before.sh
  t="$f.otter-tmp.$$"
  if ! { (umask 022; printf '%s' "$state" > "$t") && mv -f "$t" "$f"; }  # made 644: umask
  then
    rm -f "$t"; echo "otter: cannot write $f" >&2; rc=91
  fi
fi
echo "--- otter:part retire $rc"
log=$logged
[ "$rc" -eq 0 ] || log=$failed
sh -c "$log" </dev/null || echo "otter: appending to the deploy log failed (exit $?)" >&2
sh -c "$unlock" </dev/null; rc=$?
echo "--- otter:part unlock $rc"
exit "$rc"

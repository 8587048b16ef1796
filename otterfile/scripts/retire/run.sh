# The background retire (started by detach.sh, holding the deploy lock): run the retire
# (drain, stop, remove, prune, state write; its stdin from `retire.in`) with its output in
# `retire.out`, beating the lock's heartbeat meanwhile; then its deploy-log record, the
# status file removed (done) or marked failed with the output's last lines, and the lock
# released if still its own.
d=$1        # the deployment's state folder
retire=$2   # its run id, in the lock's info
beat=$3     # seconds between heartbeats
record=$4   # its deploy-log record, @WHEN@ @RESULT@ @SECONDS@ @DRAIN@ to fill in
line=$5     # shell line: the retire itself
lock="$d/lock"
ours() { grep -qxF "run=$retire" "$lock/info" 2>/dev/null; }
if ours; then  # its own pid in the lock's info, for whoever waits for it
  sed "s/^pid=.*/pid=$$/" "$lock/info" > "$lock/info.$$" && mv -f "$lock/info.$$" "$lock/info"
fi
# the status file touched too: `otter status` tells a retire that died by its age
(while sleep "$beat"; do
  ours || exit 0; date +%s > "$lock/heartbeat"; touch -c "$d/retire"
done) &
beating=$!
start=$(date +%s%N)
if [ -f "$d/retire.in" ]; then
  sh -c "$line" <"$d/retire.in" >"$d/retire.out" 2>&1
else
  sh -c "$line" </dev/null >"$d/retire.out" 2>&1
fi
rc=$?
rm -f -- "$d/retire.in"
kill "$beating" 2>/dev/null
seconds=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.3f", (b - a) / 1e9 }')
if [ "$rc" -eq 0 ]; then result=retired; else result="retire failed (exit $rc)"; fi
# the drain's own time (scripts/drain.sh's line), beside the retire's
drain=$(sed -n 's/^otter-drain .*seconds=\([0-9.]*\).*/, "drain": \1/p' "$d/retire.out" |
  tail -n 1)
# the deploy log's record before the status file says the retire ended: whoever sees it
# ended (otter status, a test) finds its record
printf '%s\n' "$record" | sed -e "s/@WHEN@/$(date -u +%Y-%m-%dT%H:%M:%S+00:00)/" \
  -e "s/@RESULT@/$result/" -e "s/@SECONDS@/$seconds/" -e "s/@DRAIN@/$drain/" \
  >> "$d/deploy.log"
if [ "$rc" -eq 0 ]; then
  rm -f -- "$d/retire"
else
  { sed 's/^status=running$/status=failed/' "$d/retire"
    printf 'exit=%s\nended=%s\n' "$rc" "$(date +%s)"
    tail -n 5 "$d/retire.out" | sed 's/^/output=/'; } > "$d/retire.new" &&
    mv -f "$d/retire.new" "$d/retire"
fi
if ours; then
  grave="$d/lock.released.$retire.$$"
  mv "$lock" "$grave" && rm -rf -- "$grave"
fi
exit "$rc"

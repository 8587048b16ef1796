# Append the run's deploy-log record, then hand the deploy lock, which the run RUN holds,
# to a background retire (run.sh) and start it detached from this session: the lock's info
# names the retire (its run id RETIRE), the status file `retire` says it runs, what the
# retire reads on stdin waits in `retire.in`. Exit 3 `status=not-ours` when RUN does not
# hold the lock (nothing started); else `status=retiring` with its pid.
d=$1        # the deployment's state folder
run=$2      # the run that holds the lock
retire=$3   # the retire's run id (retire-RUN)
holder=$4   # who the lock's info names
beat=$5     # seconds between the retire's heartbeats
old=$6      # the release it retires
record=$7   # its deploy-log record, @WHEN@ @RESULT@ @SECONDS@ to fill in
line=$8     # shell line: the retire itself
retirer=$9  # the text of run.sh
runlog=${10}  # the run's own deploy-log record, or ""
input=${11}   # 1: this script's stdin is the retire's
lock="$d/lock"
if [ -n "$runlog" ]; then
  { umask 022; printf '%s\n' "$runlog" >> "$d/deploy.log"; } ||
    echo "otter: appending to the deploy log failed" >&2
fi
grep -qxF "run=$run" "$lock/info" 2>/dev/null || { echo "status=not-ours"; exit 3; }
now=$(date +%s)
rm -f -- "$d/retire.in"
if [ "$input" = 1 ]; then cat > "$d/retire.in" || exit 1; fi
printf 'holder=%s\npid=%s\nsince=%s\nrun=%s\n' "$holder" "$$" "$now" "$retire" \
  > "$lock/info.new" && mv -f "$lock/info.new" "$lock/info" || exit 1
echo "$now" > "$lock/heartbeat"
# then the status file (a read between the two sees the lock its own); no retire will run
# without it: the lock is nobody's then
if ! { printf 'status=running\nrun=%s\nrelease=%s\nsince=%s\n' "$retire" "$old" "$now" \
       > "$d/retire.new" && mv -f "$d/retire.new" "$d/retire"; }; then
  mv "$lock" "$d/lock.released.$retire.$$" && rm -rf -- "$d/lock.released.$retire.$$"
  exit 1
fi
# a session of its own: the end of this one (ssh closing) does not reach it
if command -v setsid >/dev/null 2>&1; then detach="setsid"; else detach="nohup"; fi
"$detach" sh -c "$retirer" retire "$d" "$retire" "$beat" "$record" "$line" \
  </dev/null >/dev/null 2>&1 &
printf 'status=retiring\npid=%s\nrun=%s\n' "$!" "$retire"

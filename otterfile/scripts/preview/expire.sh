# A preview's expiry, run by its timer (arm.sh): its removal under its deploy lock, like any
# change, so it never runs beside a deploy or a remove of the preview. The lock held: exit
# 75, and systemd starts the service again later (RestartForceExitStatus=75).
take=$1     # shell line: take the lock (lock/acquire.sh): 0 taken, 3 held by another run
beat=$2     # shell line: refresh the lock's heartbeat while the removal runs
removal=$3  # shell line: the removal
give=$4     # shell line: release the lock
after=$5    # shell line: once the lock is gone, the state folder when it is empty
said=$(sh -c "$take" </dev/null); rc=$?
if [ "$rc" -eq 3 ]; then
  printf 'otter: the preview is locked by another run; the expiry is retried later\n%s\n' \
    "$said"
  exit 75
fi
if [ "$rc" -ne 0 ]; then printf '%s\n' "$said" >&2; exit 1; fi
# the heartbeat: a removal longer than the stale limit keeps its lock
(while sleep 10; do sh -c "$beat" || exit 0; done) >/dev/null 2>&1 &
alive=$!
sh -c "$removal" </dev/null; rc=$?
kill "$alive" 2>/dev/null
sh -c "$give" >/dev/null 2>&1
[ "$rc" -ne 0 ] || sh -c "$after"
exit "$rc"

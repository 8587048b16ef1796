# Take a deployment's lock, or take over one whose heartbeat is older than LIMIT seconds,
# after common.sh (its functions). Exit 0 `status=acquired` (+ `took_over=...`), exit 3
# `status=held` with the holder. A lock folder seen without its holder is looked at again
# (5 times, 0.1 s apart) before it counts as held.
# shellcheck disable=SC2154  # old_run, old_holder, old_since and age are set by describe
d=$1        # the deployment's state folder
holder=$2   # who takes it (user@host)
pid=$3      # the taking otter's pid
run=$4      # the run id
limit=$5    # seconds after which a heartbeat is stale
umask 022; [ -d "$d" ] || mkdir -p "$d" || exit 1; now=$(date +%s)
lock="$d/lock"
take() {
  mkdir "$lock" 2>/dev/null || return 1
  { printf 'holder=%s\npid=%s\nsince=%s\nrun=%s\n' "$holder" "$pid" "$now" "$run" \
    > "$lock/info" && echo "$now" > "$lock/heartbeat"; } || return 1
  printf 'status=acquired\nsince=%s\n' "$now"
}
take && exit 0
describe
tries=0  # a folder without its holder was released or is being taken between the two looks
while [ -z "$old_run" ] && [ "$tries" -lt 5 ]; do
  sleep 0.1; tries=$((tries + 1)); take && exit 0; describe
done
if [ "$age" -gt "$limit" ]; then
  # take over one at a time (flock ends with its holder); look again once inside
  exec 9>"$d/.lock-takeover"; command -v flock >/dev/null 2>&1 && flock -w 10 9
  take && exit 0
  describe
  grave="$d/lock.stale.$run.$$"
  # rename the stale folder away (atomic), then mkdir as usual
  if [ "$age" -gt "$limit" ] && mv "$lock" "$grave" 2>/dev/null; then
    if [ "$(field run "$grave")" = "$old_run" ]; then
      rm -rf "$grave"
      if take; then
        printf 'took_over=%s\ntook_over_since=%s\n' "$old_holder" "$old_since"; exit 0
      fi
    elif [ ! -e "$lock" ]; then
      mv "$grave" "$lock"  # a fresh lock, not the stale one we saw: put it back
    fi
    describe
  fi
fi
echo "status=held"; report "$limit"
exit 3

# Remove the lock whoever holds it (`otter unlock`), after common.sh (its functions); prints
# the holder (if any) before removing it.
d=$1        # the deployment's state folder
limit=$2    # seconds after which a heartbeat is stale
# shellcheck disable=SC2034  # now is read by describe (common.sh)
now=$(date +%s) lock="$d/lock"
[ -d "$lock" ] || { echo "status=free"; exit 0; }
describe; report "$limit"
grave="$d/lock.forced.$$"
mv "$lock" "$grave" && rm -rf "$grave" && echo "status=released"

# Run under the deploy lock in the lock's round trip (run/noop.py): when the live release
# already is what the run would start (the fingerprint `want`, the runtime, its one instance
# running, the proxy running and serving its port, nothing for recover to settle), append
# the deploy-log record, release the lock and print the marker and the release id: a no-op
# in one round trip. Otherwise exit 10: the state read runs next and the deploy goes on.
# Runs after unit-runs.sh (its function).
d=$1        # the deployment's state folder
want=$2     # the fingerprint the run would give its release
rt=$3       # the runtime kind
prog=$4     # live.awk
runs=$5     # shell line: the deployment's instances, "NAME running" for one that runs
unit=$6     # the proxy's systemd unit, or "" (not behind one)
site=$7     # the proxy's site of the deployment, or "" (no served-port check)
log=$8      # shell line: append the deploy-log record (@otter-live-release@: the id)
free=$9     # shell line: release the lock
shift 9     # the rest: paths (globs) that must not exist: other proxy kinds' sites of the
            # deployment, units of schedules it no longer declares (retire removes them)
changed() { exit 10; }
[ ! -e "$d/kept/release" ] || changed
live=$(awk -v want="$want" -v rt="$rt" "$prog" "$d/releases.json" 2>/dev/null) || changed
id=${live%% *}; rest=${live#* }; inst=${rest%% *}; port=${rest#* }
# shellcheck disable=SC2086 # a glob, expanded on purpose
for other in "$@"; do for f in $other; do [ ! -e "$f" ] || changed; done; done
if [ -n "$unit" ]; then unit_runs "$unit" || changed; fi
if [ -n "$site" ]; then
  [ -f "$site" ] || changed
  if grep -q '127\.0\.0\.1:[0-9]' "$site"; then  # a reload switch: the site names the port
    grep -Eq "127\.0\.0\.1:$port([^0-9]|\$)" "$site" || changed
  else  # the port file of the upstream folder, the first all-digit name
    served=""
    for f in "$d/upstream"/*; do
      n=${f##*/}; case $n in "" | *[!0-9]*) continue ;; esac; served=$n; break
    done
    [ "$served" = "$port" ] || changed
  fi
fi
[ "$(sh -c "$runs" 2>/dev/null)" = "$inst running" ] || changed
sh -c "$(printf '%s' "$log" | sed "s/@otter-live-release@/$id/g")" </dev/null ||
  echo "otter: appending to the deploy log failed" >&2
sh -c "$free" </dev/null >/dev/null || exit 1
echo "--- otter:unchanged"
echo "$id"
exit 0

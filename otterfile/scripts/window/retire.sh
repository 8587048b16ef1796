# Retire the kept release when its rollback window ends: run by the transient timer that
# window/arm.sh armed, from the kept folder it wrote. Under the deployment's deploy lock (a
# run holding it: exit 75, systemd tries again), and never the release the proxy serves.
# Nothing before the deadline the kept folder names: a timer armed for an earlier window
# (arm.sh stops those; an older otter left them to fire) leaves the release kept since then
# to its own timer. Once it has stopped the release, its record goes, whether the removal
# works or not: a stopped release is never recorded as kept.
dir=${0%/*}  # the kept folder
d=${dir%/*}  # the deployment's state folder
lock="$d/lock"
early() {  # the kept release's window has not ended (a later one armed its own timer)
  [ -f "$dir/release" ] && read -r _ until < "$dir/release" &&
    [ "$(date +%s)" -lt "${until:-0}" ] 2>/dev/null
}
if early; then echo "a later rollback window is armed: nothing to do yet"; exit 0; fi
tries=0
until mkdir "$lock" 2>/dev/null; do
  tries=$((tries + 1))
  [ "$tries" -lt 60 ] || { echo "the deploy lock is held: trying again later"; exit 75; }
  sleep 1
done
now=$(date +%s)
printf 'holder=%s\npid=%s\nsince=%s\nrun=%s\n' "the rollback-window timer" "$$" "$now" \
  "window-$now-$$" > "$lock/info"
echo "$now" > "$lock/heartbeat"
trap 'rm -rf -- "$lock"' EXIT
[ -f "$dir/release" ] || exit 0  # a run retired or replaced it meanwhile
if early; then echo "a later rollback window is armed: nothing to do yet"; exit 0; fi
read -r release _ < "$dir/release"
if grep -q "\"live\": \"$release\"" "$d/releases.json" 2>/dev/null ||
   [ "$(sh -c "$(cat "$dir/serves")" </dev/null)" = serves ]; then
  echo "$release is live: not retired"
  rm -f -- "$dir/release" "$dir/serves" "$dir/stop" "$dir/remove"
  exit 0
fi
# once stopped it is kept no more, whether its removal works or not (the next run's recover
# removes what is left): the record goes before the removal. A stop that failed (gone
# already, or the engine failing) drops it only once the removal went through.
remove=$(cat "$dir/remove")
forget() { rm -f -- "$dir/release" "$dir/serves" "$dir/stop" "$dir/remove"; }
if sh -c "$(cat "$dir/stop")" </dev/null; then
  forget
  if ! sh -c "$remove" </dev/null; then
    echo "$release stopped, not removed: its rollback window ended (the next run removes it)"
    exit 1
  fi
elif sh -c "$remove" </dev/null; then
  forget
else
  echo "$release neither stopped nor removed: still kept, its window ended"; exit 1
fi
echo "retired $release (its rollback window ended)"

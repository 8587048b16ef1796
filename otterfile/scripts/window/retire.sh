# Retire the kept release when its rollback window ends: run by the transient timer
# (UNIT:DEADLINE) armed for the kept folder it lives in. Under the deployment's deploy lock
# (a run holding it: exit 75, systemd tries again), and never the release the proxy serves.
# A timer that fires before the deadline the kept folder names now (a later switch kept a
# release for longer and left this timer to fire first: window/arm.sh) arms the one for
# that deadline and ends: one timer per deployment waits, and a switch inside the window
# pays no call to systemd. Once it has stopped the release, its record goes, whether the
# removal works or not: a stopped release is never recorded as kept.
#   retire.sh UNIT        (the timer's service)
#   retire.sh UNIT arm    (window/arm.sh: arm the timer for the folder's deadline)
dir=${0%/*}  # the kept folder
d=${dir%/*}  # the deployment's state folder
unit=${1:-otter-kept-${d##*/}}  # the timers' name (an older otter's timer passes none)
lock="$d/lock"
until=""
early() {  # the kept release's window has not ended
  [ -f "$dir/release" ] && read -r _ until < "$dir/release" &&
    [ "$(date +%s)" -lt "${until:-0}" ] 2>/dev/null
}
timer() {  # a timer that runs this script at $until (exit 75: systemd tries again in 30 s)
  left=$((until - $(date +%s))); [ "$left" -gt 0 ] || left=1
  systemd-run --quiet --collect --unit="$unit:$until" --on-active="${left}s" \
    --timer-property=AccuracySec=1s --property=RestartForceExitStatus=75 \
    --property=RestartSec=30 --description="otter: retire the release kept by $unit" \
    /bin/sh "$dir/retire.sh" "$unit"
}
armed() {  # the timer for $until is there already: its transient unit file (no process)
  [ -e "/run/systemd/transient/$unit:$until.timer" ]
}
if [ "${2:-}" = arm ]; then
  read -r _ until < "$dir/release" || exit 1
  armed && exit 0
  # a unit of the same name not yet collected (armed again within the second): reset first
  timer 2>/dev/null || {
    systemctl stop "$unit:$until.timer" "$unit:$until.service" >/dev/null 2>&1
    systemctl reset-failed "$unit:$until.timer" "$unit:$until.service" >/dev/null 2>&1
    timer
  }
  exit
fi
later() {  # the window was made longer: its own timer armed, nothing else done
  if armed || timer; then echo "the window ends later ($until): its timer armed"; exit 0; fi
  echo "the window ends later ($until); arming its timer failed: trying again in 30 s"
  exit 75
}
if early; then later; fi
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
if early; then later; fi
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

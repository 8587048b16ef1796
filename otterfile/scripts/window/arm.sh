# Keep the release a switch superseded running for the rollback window (run/window.py): the
# kept folder gets what the retire script needs, and a transient systemd timer runs that
# script when the window ends, whether or not a controller is there. The timer is named by
# its deadline (UNIT:UNTIL); every timer armed before for this deployment (UNIT:*, and UNIT
# as older otters named it) is stopped first, in the same call to systemctl: at most one
# waits per deployment. Without systemd-run the release is retired now, said on stderr.
dir=$1      # the kept folder (<state dir>/kept)
unit=$2     # the timers' unit name prefix: each is UNIT:UNTIL.timer
release=$3  # the kept release's id
seconds=$4  # the window, whole seconds
serves=$5   # shell line: prints `serves` when the proxy serves the kept release
stop=$6     # shell line: stop the kept release's instance
remove=$7   # shell line: remove it (no error when it is gone)
retire=$8   # the retire script's text (window/retire.sh)
rm -rf -- "$dir"
if ! command -v systemd-run >/dev/null 2>&1; then
  echo "otter: warning: no systemd-run on this host: $release retired now, not kept" >&2
  sh -c "$stop" </dev/null; sh -c "$remove" </dev/null || exit 1
  exit 0
fi
umask 077; mkdir -p "$dir" || exit 1
until=$(( $(date +%s) + seconds ))
printf '%s\n' "$serves" > "$dir/serves" && printf '%s\n' "$stop" > "$dir/stop" &&
  printf '%s\n' "$remove" > "$dir/remove" && printf '%s\n' "$retire" > "$dir/retire.sh" &&
  printf '%s %s\n' "$release" "$until" > "$dir/release" || exit 1
# exit 75 (a run holds the deploy lock): systemd starts it again after 30 s
timer() {
  systemd-run --quiet --collect --unit="$unit:$until" --on-active="${seconds}s" \
    --timer-property=AccuracySec=1s --property=RestartForceExitStatus=75 \
    --property=RestartSec=30 --description="otter: retire kept release $release" \
    /bin/sh "$dir/retire.sh"
}
# the timers before: each retires a release no longer kept, or fires for nothing (under the
# deploy lock, their services can only be waiting for it)
systemctl stop "$unit.timer" "$unit.service" "$unit:*.timer" "$unit:*.service" \
  >/dev/null 2>&1
# a unit of the same second not yet gone (armed again at once): reset, then armed again
timer 2>/dev/null || {
  systemctl reset-failed "$unit:$until.timer" "$unit:$until.service" >/dev/null 2>&1
  timer
} || { rm -rf -- "$dir"; exit 1; }
echo "kept $release until $until"

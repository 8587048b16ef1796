# Keep the release a switch superseded running for the rollback window (run/window.py): the
# kept folder gets what the retire script needs, and a transient systemd timer (UNIT:UNTIL)
# runs that script when the window ends, whether or not a controller is there. A timer of
# the deployment due no later than this deadline is left to fire first: it arms the one for
# this deadline then (window/retire.sh), so a switch inside the window calls no systemd
# program. Otherwise the timers before are stopped and this one armed: at most one waits
# per deployment.
dir=$1      # the kept folder (<state dir>/kept)
unit=$2     # the timers' unit name prefix: each is UNIT:UNTIL.timer
release=$3  # the kept release's id
seconds=$4  # the window, whole seconds
serves=$5   # shell line: prints `serves` when the proxy serves the kept release
stop=$6     # shell line: stop the kept release's instance
remove=$7   # shell line: remove it (no error when it is gone)
retire=$8   # the retire script's text (window/retire.sh)
# A release that cannot be kept (no systemd-run, a folder or a timer that fails) is retired
# now, said on stderr: never left running with nothing to retire it.
retire_now() {
  rm -rf -- "$dir"
  echo "otter: warning: $1: $release retired now, not kept" >&2
  sh -c "$stop" </dev/null; sh -c "$remove" </dev/null || exit 1
  exit 0
}
command -v systemd-run >/dev/null 2>&1 || retire_now "no systemd-run on this host"
umask 077; [ -d "$dir" ] || mkdir -p "$dir" 2>/dev/null || retire_now "cannot make $dir"
until=$(( $(date +%s) + seconds ))
{ printf '%s\n' "$serves" > "$dir/serves" && printf '%s\n' "$stop" > "$dir/stop" &&
  printf '%s\n' "$remove" > "$dir/remove" && printf '%s\n' "$retire" > "$dir/retire.sh" &&
  printf '%s %s\n' "$release" "$until" > "$dir/release"; } 2>/dev/null \
  || retire_now "cannot write $dir"
# a timer of this deployment due no later than this deadline fires first and arms the next
# itself (retire.sh): nothing to arm or stop (systemd's transient unit files tell: no
# process). A rollback inside the window finds its deploy's timer so
for f in /run/systemd/transient/"$unit":*.timer; do
  t=${f##*:}; t=${t%.timer}
  case $t in "" | *[!0-9]*) continue ;; esac
  if [ "$t" -le "$until" ] && [ -e "$f" ]; then echo "kept $release until $until"; exit 0; fi
done
# the timers before (due later: the window was made shorter; or an older otter's): stopped
# in one call, under the deploy lock (their services can only be waiting for it)
systemctl stop "$unit.timer" "$unit.service" "$unit:*.timer" "$unit:*.service" \
  >/dev/null 2>&1
/bin/sh "$dir/retire.sh" "$unit" arm || retire_now "its timer could not be armed"
echo "kept $release until $until"

# No kept release any more (run/window.py): the timers that would retire it are cancelled
# (every UNIT:UNTIL one window/arm.sh armed, and UNIT itself, as otter armed it before) and
# its folder removed; what it kept was stopped by the caller, or never existed.
dir=$1   # the kept folder
unit=$2  # the timers' unit name prefix
systemctl stop "$unit.timer" "$unit.service" "$unit:*.timer" "$unit:*.service" \
  >/dev/null 2>&1
systemctl reset-failed "$unit.timer" "$unit.service" "$unit:*.timer" "$unit:*.service" \
  >/dev/null 2>&1
rm -rf -- "$dir"
exit 0

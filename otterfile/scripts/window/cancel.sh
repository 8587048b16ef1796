# No kept release any more (run/window.py): the timer that would retire it is cancelled and
# its folder removed; what it kept was stopped by the caller, or never existed.
dir=$1   # the kept folder
unit=$2  # the timer's unit name, without its suffix
systemctl stop "$unit.timer" "$unit.service" >/dev/null 2>&1
systemctl reset-failed "$unit.timer" "$unit.service" >/dev/null 2>&1
rm -rf -- "$dir"
exit 0

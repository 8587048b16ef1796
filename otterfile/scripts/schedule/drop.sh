# Remove the units of the named schedules of a deployment (the Otterfile no longer declares
# them): each timer stopped and disabled, both files and its flock file gone. A run in
# progress is not stopped: it ends on its own. Prints `schedule removed NAME` for each one
# there was.
#   drop.sh UNIT_FOLDER LOCK_FOLDER DEPLOYMENT NAME...
d=$1 locks=$2 dep=$3; shift 3
reload=0
for name in "$@"; do
  unit="otter-$dep:$name"
  [ -e "$d/$unit.timer" ] || [ -e "$d/$unit.service" ] || continue
  systemctl disable --now -q -- "$unit.timer" >/dev/null 2>&1
  rm -f -- "$d/$unit.timer" "$d/$unit.service" "$locks/$name.lock" || exit 1
  reload=1
  echo "schedule removed $name"
done
rmdir -- "$locks" 2>/dev/null  # its last schedule gone
if [ "$reload" = 1 ]; then systemctl daemon-reload || exit 1; fi
exit 0

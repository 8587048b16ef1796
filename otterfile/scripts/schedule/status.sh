# Each schedule unit of a deployment: its service's last run and its timer's next, as
# `systemctl show` prints them, a block per schedule after a `schedule NAME RELEASE` line.
#   status.sh UNIT_FOLDER DEPLOYMENT
d=$1 dep=$2
for f in "$d/otter-$dep:"*.service; do
  [ -e "$f" ] || continue
  unit=${f##*/} name=${unit#otter-"$dep":} name=${name%.service}
  echo "schedule $name $(sed -n 's/^X-Otter-Release=//p' "$f")"
  systemctl show --timestamp=utc -p ActiveState -p Result -p ExecMainStatus \
    -p ExecMainStartTimestamp -p ExecMainExitTimestamp -p ExecMainStartTimestampMonotonic \
    -p ExecMainExitTimestampMonotonic -- "$unit"
  if [ -e "$d/otter-$dep:$name.timer" ]; then
    systemctl show --timestamp=utc -p NextElapseUSecRealtime -p UnitFileState \
      -- "otter-$dep:$name.timer" | sed 's/^/timer./'
  fi
done
exit 0

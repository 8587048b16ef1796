# Write a deployment's schedule units and place their timers; with PRUNE=1, remove the
# units of its schedules not named. A run in progress is never stopped: a unit rewritten or
# removed while its service runs takes effect at the next run.
#   install.sh UNIT_FOLDER LOCK_FOLDER DEPLOYMENT PRUNE [NAME SERVICE TIMER PLACE]...
#   PLACE: on (timer written, enabled, started), off (timer and service removed), keep
#   (the service written; the timer rewritten only where there is one)
d=$1 locks=$2 dep=$3 prune=$4; shift 4
reload=0 names=' ' restart=''
write() {  # FILE TEXT: written (atomically) only when it differs; 0: written
  if [ -f "$1" ] && [ "$(cat -- "$1")" = "$2" ]; then return 1; fi
  printf '%s\n' "$2" > "$1.otter-new" && mv -f -- "$1.otter-new" "$1" || exit 1
  reload=1
}
drop() {  # UNIT: timer stopped and disabled, both files gone
  if [ -e "$d/$1.timer" ] || [ -e "$d/$1.service" ]; then
    systemctl disable --now -q -- "$1.timer" >/dev/null 2>&1
    rm -f -- "$d/$1.timer" "$d/$1.service" || exit 1
    reload=1
    echo "removed ${1#otter-"$dep":}"
  fi
}
if [ $# -gt 0 ]; then mkdir -p -- "$locks" || exit 1; fi
while [ $# -ge 4 ]; do
  name=$1 service=$2 timer=$3 place=$4; shift 4
  unit="otter-$dep:$name" names="$names$name "
  if [ "$place" = off ]; then drop "$unit"; continue; fi
  [ -e "$locks/$name.lock" ] || { : > "$locks/$name.lock" && chmod 644 "$locks/$name.lock"; } || exit 1
  write "$d/$unit.service" "$service"
  if [ "$place" = on ] || [ -e "$d/$unit.timer" ]; then
    if write "$d/$unit.timer" "$timer" || ! systemctl is-active -q -- "$unit.timer"; then
      restart="$restart $unit.timer"
    fi
    if [ "$place" = on ]; then echo "timer $name"; fi
  fi
done
if [ "$prune" = 1 ]; then
  for f in "$d/otter-$dep:"*.timer "$d/otter-$dep:"*.service; do
    [ -e "$f" ] || continue
    name=${f##*/otter-"$dep":} name=${name%.*}
    case "$names" in *" $name "*) ;; *) drop "otter-$dep:$name"; rm -f -- "$locks/$name.lock" ;; esac
  done
  if [ "$names" = ' ' ]; then rm -rf -- "$locks"; fi
fi
if [ "$reload" = 1 ]; then systemctl daemon-reload || exit 1; fi
for t in $restart; do
  if ! { systemctl enable -q -- "$t" && systemctl restart -- "$t"; }; then
    echo "otter: $t does not start" >&2; exit 1
  fi
done
exit 0

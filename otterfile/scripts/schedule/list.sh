# The schedules a deployment has units of on this host, one name a line (a timer, a service
# or both), read-only: read-target.sh's `--- otter:schedules` part (run/target.py).
#   list.sh UNIT_FOLDER DEPLOYMENT
d=$1 dep=$2
for f in "$d/otter-$dep:"*.timer "$d/otter-$dep:"*.service; do
  [ -e "$f" ] || continue
  name=${f##*/otter-"$dep":} name=${name%.*}
  echo "$name"
done | sort -u
exit 0

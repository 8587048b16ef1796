# Snapshot a deployment's data before a release starts, in one round trip: room checked,
# the live release held still (BEFORE run in it, else PAUSE .. RESUME around the copy), each
# source tarred into DIR/NAME/LABEL.tar, compressed once the release runs again (the pause
# lasts the plain copy only), beside a `meta` file; the oldest past KEEP removed. Prints `key=value` lines (snapshot=none: no data yet). Exit 5: no room (need=,
# free= in KiB); 6: BEFORE failed; 7: PAUSE failed; nothing is left behind then.
#   take.sh DIR NAME LIVE KEEP DATA PAUSE RESUME BEFORE
dir=$1      # the deployment's snapshots folder
name=$2     # the snapshot's name: the release it is taken before
live=$3     # the live release whose data it is ("": none)
keep=$4     # how many snapshots to keep
data=$5     # a shell line printing `LABEL PATH` lines: what to copy
pause=$6    # a shell line pausing the live instance ("": nothing runs)
resume=$7   # a shell line resuming it
before=$8   # a shell line run in the live release instead of pausing ("": none)

sources=$(sh -c "$data") || { echo "otter: listing the data failed" >&2; exit 1; }
[ -n "$sources" ] || { echo "snapshot=none"; exit 0; }
need=0
while read -r label path; do
  kib=$(du -sk -- "$path" | awk '{print $1}') || exit 1
  need=$((need + kib))
done <<EOF_SOURCES
$sources
EOF_SOURCES
mkdir -p -- "$dir" && chmod 700 -- "$dir" || exit 1
free=$(df -Pk -- "$dir" | awk 'NR == 2 {print $4}')
need=$((need * 2))  # the plain tar and its compressed copy, for a moment
if [ "$need" -gt "$free" ]; then echo "need=$need"; echo "free=$free"; exit 5; fi
tmp="$dir/.$name.tmp"
rm -rf -- "$tmp" && mkdir -- "$tmp" || exit 1

how=idle
t0=$(cut -d' ' -f1 /proc/uptime)  # paused: from before the pause to after the resume
if [ -n "$before" ]; then
  sh -c "$before" >&2 || { rc=$?; rm -rf -- "$tmp"; echo "exit=$rc"; exit 6; }
  how=before
elif [ -n "$pause" ]; then
  trap 'sh -c "$resume" >/dev/null 2>&1; rm -rf -- "$tmp"; exit 1' HUP INT TERM
  sh -c "$pause" >&2 || { rm -rf -- "$tmp"; exit 7; }
  how=paused
fi
[ "$how" = paused ] || t0=$(cut -d' ' -f1 /proc/uptime)  # else the copy alone
failed=0
while read -r label path; do
  tar -cf "$tmp/$label.tar" --numeric-owner -C "$path" . || failed=1
done <<EOF_SOURCES
$sources
EOF_SOURCES
if [ "$how" = paused ]; then
  sh -c "$resume" >&2 || echo "otter: resuming the live release failed" >&2
  trap - HUP INT TERM
fi
t1=$(cut -d' ' -f1 /proc/uptime)
[ "$failed" = 0 ] || { rm -rf -- "$tmp"; echo "otter: copying the data failed" >&2; exit 1; }
for archive in "$tmp"/*.tar; do
  gzip -1 -- "$archive" || { rm -rf -- "$tmp"; echo "otter: compressing failed" >&2; exit 1; }
done

bytes=$(cat "$tmp"/*.tar.gz | wc -c)
seconds=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')
labels=$(printf '%s\n' "$sources" | awk '{print $1}' | paste -sd, -)
printf 'before=%s\nlive=%s\ntime=%s\nbytes=%s\nhow=%s\nseconds=%s\nsources=%s\n' \
  "$name" "$live" "$(date +%s)" "$bytes" "$how" "$seconds" "$labels" > "$tmp/meta" || exit 1
rm -rf -- "${dir:?}/$name" && mv -- "$tmp" "$dir/$name" || exit 1
cat "$dir/$name/meta"
# the oldest past KEEP go (names are release ids: a glob sorts them by time)
count=0
for old in "$dir"/*; do [ -d "$old" ] && count=$((count + 1)); done
for old in "$dir"/*; do
  [ "$count" -gt "$keep" ] || break
  [ -d "$old" ] || continue
  rm -rf -- "$old" && echo "pruned=${old##*/}"
  count=$((count - 1))
done
printf 'mount=%s\n' "$(df -P -- "$dir" | awk 'NR == 2 {m = $6; for (i = 7; i <= NF; i++) m = m " " $i; print m}')"
exit 0

# Restore the snapshot DIR/NAME: checked first (it exists, it holds DATA_OF's data, every
# source it has is still declared), then the live instance stopped, each source emptied and
# unpacked from its tar. Prints `restored=LABEL` lines. Exit 3: no such snapshot; 8: it
# holds another release's data (`live=` says whose); 9: a source is no longer declared.
#   restore.sh DIR NAME DATA_OF DATA STOP
dir=$1      # the deployment's snapshots folder
name=$2     # the snapshot: the release it was taken before
data_of=$3  # the release the rollback makes live: the snapshot must hold its data
data=$4     # a shell line printing `LABEL PATH` lines, making what is missing
stop=$5     # a shell line stopping the live instance ("": none runs)

snap="$dir/$name"
[ -f "$snap/meta" ] || exit 3
live=$(sed -n 's/^live=//p' "$snap/meta")
[ "$live" = "$data_of" ] || { echo "live=$live"; exit 8; }
sources=$(sh -c "$data") || { echo "otter: listing the data failed" >&2; exit 1; }
for archive in "$snap"/*.tar.gz; do
  [ -f "$archive" ] || continue
  label=$(basename -- "$archive" .tar.gz)
  printf '%s\n' "$sources" | awk -v l="$label" '$1 == l {f = 1} END {exit !f}' ||
    { echo "label=$label"; exit 9; }
done
if [ -n "$stop" ]; then sh -c "$stop" >&2 || exit 1; fi
while read -r label path; do
  [ -f "$snap/$label.tar.gz" ] || continue
  find "$path" -mindepth 1 -maxdepth 1 -exec rm -rf -- {} + &&
    tar -xzpf "$snap/$label.tar.gz" --numeric-owner -C "$path" || exit 1
  echo "restored=$label"
done <<EOF_SOURCES
$sources
EOF_SOURCES
exit 0

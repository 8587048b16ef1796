# A deployment's snapshots, read-only: `now=EPOCH`, then per snapshot (oldest first) a
# `--- otter:snapshot` line and its meta file.
#   list.sh DIR
dir=$1      # the deployment's snapshots folder
echo "now=$(date +%s)"
[ -d "$dir" ] || exit 0
for snap in "$dir"/*; do
  [ -f "$snap/meta" ] || continue
  echo "--- otter:snapshot"
  cat -- "$snap/meta"
done
exit 0

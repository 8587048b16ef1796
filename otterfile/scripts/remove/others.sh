# The state files of the deployments on this host other than NAME, each after a marker line
# (what `otter remove` keeps: an artifact another deployment names is not pruned).
base=$1  # the state folder's parent (/var/lib/otter)
name=$2  # the deployment being removed
for f in "$base"/*/releases.json; do
  if [ ! -f "$f" ] || [ "$f" = "$base/$name/releases.json" ]; then continue; fi
  echo "--- otter:other $f"; cat "$f"; echo
done
exit 0

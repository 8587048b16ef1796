# Remove the lock if the run holds it. Exit 3 when another run holds it.
d=$1        # the deployment's state folder
run=$2      # the run id
lock="$d/lock"
[ -d "$lock" ] || { echo "status=free"; exit 0; }
grep -qxF "run=$run" "$lock/info" 2>/dev/null || { echo "status=not-ours"; exit 3; }
grave="$d/lock.released.$run.$$"
mv "$lock" "$grave" && rm -rf "$grave" && echo "status=released"

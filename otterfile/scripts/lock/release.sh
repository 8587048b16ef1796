# Remove the lock if the run holds it. Exit 3 when another run holds it.
d=$1        # the deployment's state folder
run=$2      # the run id
lock="$d/lock"
[ -d "$lock" ] || { echo "status=free"; exit 0; }
ours=""  # read by the shell (no process): is the line run=RUN in the holder file?
{ while IFS= read -r l || [ -n "$l" ]; do [ "$l" != "run=$run" ] || ours=1; l=""; done \
    < "$lock/info"; } 2>/dev/null
[ -n "$ours" ] || { echo "status=not-ours"; exit 3; }
grave="$d/lock.released.$run.$$"
mv "$lock" "$grave" && rm -rf "$grave" && echo "status=released"

# Refresh the lock's heartbeat if the run still holds it. Exit 3 when it is no longer ours.
d=$1        # the deployment's state folder
run=$2      # the run id
lock="$d/lock"
grep -qxF "run=$run" "$lock/info" 2>/dev/null || { echo "status=lost"; exit 3; }
date +%s > "$lock/heartbeat.tmp" && mv -f "$lock/heartbeat.tmp" "$lock/heartbeat"

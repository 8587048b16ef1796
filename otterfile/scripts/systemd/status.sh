# A unit's state, exit code, restarts and last journal lines, read-only.
unit=$1     # otter-DEPLOYMENT@RELEASE.service
lines=$2    # how many journal lines
systemctl show --property=LoadState,ActiveState,SubState,ExecMainStatus,NRestarts,Result \
  -- "$unit" 2>&1
echo "--- otter:journal"
journalctl -u "$unit" -n "$lines" --no-pager -q -o cat 2>&1
exit 0

# After the command of around-before.sh: its status until it succeeded, then a
# `--- otter:changed` line and releases.json becomes AFTER. Exit 91: that write failed.
# shellcheck disable=SC2154  # after is named by around-before.sh
rc=$?; [ "$rc" -eq 0 ] || exit "$rc"
echo "--- otter:changed"
put "$after" || exit 91

# Receive a file into the store, then run the next command in the same round trip, only
# once the file is stored and its digest checked: the ship and the systemd start of a
# release (transfer/ship_file.py). stdin: the next command's own input first (`first`
# bytes, its env file; 0: none), then the file. A line "otter: stored" on stdout and on
# stderr between the two tells the controller the store's part ended well; without it, the
# exit status is the receive's and the next command never ran. `beside` runs at the same
# time as the next command, in the background; its exit status and output follow the next
# command's on stdout, after a line "otter: beside STATUS".
first=$1    # bytes of stdin that are the next command's input
receive=$2  # the store's receive (a shell line), reading the rest of stdin
then=$3     # the next command (a shell line)
beside=${4:-}  # a command run beside it (a shell line; "": none)
input=""
if [ "$first" -gt 0 ]; then
  # GNU head -c reads no byte past them; the x keeps trailing newlines ($(...) drops them)
  input=$(head -c "$first"; echo x)
  input=${input%x}
  [ "${#input}" -eq "$first" ] || [ "$(printf %s "$input" | wc -c)" -eq "$first" ] \
    || { echo "otter: the start's input ended early" >&2; exit 1; }
fi
sh -c "$receive" || exit
echo "otter: stored"
echo "otter: stored" >&2
pid="" out=""
if [ -n "$beside" ] && out=$(mktemp); then
  sh -c "$beside" < /dev/null > "$out" 2>&1 &
  pid=$!
fi
if [ "$first" -gt 0 ]; then
  printf %s "$input" | sh -c "$then"
else
  sh -c "$then" < /dev/null
fi
rc=$?
[ -n "$pid" ] || exit "$rc"
wait "$pid"
echo "otter: beside $?"
cat "$out"
rm -f "$out"
exit "$rc"

# Runs "$@" (a load or a store write) on what otter streams to this script's stdin, and
# stops feeding it when the run that streams is gone (feed-watch.sh, included before this):
# fed no more, it sees the end of its input and cleans up as after any truncated upload.
# A receiver that watches its own feed (a `sh -c` script reading OTTER_GUARD_LOCK: the
# store's receive, whose `tee` reads the stream) is run on this stdin itself, told the lock,
# the run and the limit: no copy of the stream through a `cat` here.
lock=$1 run=$2 limit=$3
shift 3
if [ "${1:-}" = sh ] && [ "${2:-}" = -c ]; then
  case ${3:-} in *OTTER_GUARD_LOCK*)
    OTTER_GUARD_LOCK=$lock OTTER_GUARD_RUN=$run OTTER_GUARD_LIMIT=$limit
    export OTTER_GUARD_LOCK OTTER_GUARD_RUN OTTER_GUARD_LIMIT
    exec "$@" ;;
  esac
fi
exec 3<&0
dir=$(mktemp -d) && mkfifo "$dir/in" || exit 1
trap 'rm -rf "$dir"' EXIT
"$@" < "$dir/in" 3<&- &
target=$!
cat <&3 > "$dir/in" &
feed=$!
exec 3<&-
watch_feed "$feed" "$lock" "$run" "$limit" "$dir/cut" &
watch=$!
wait "$target"
status=$?
kill "$watch" "$feed" 2>/dev/null
cut_said "$dir/cut" "$run"
exit "$status"

# Stop a unit after letting in-flight requests drain; SIGKILL it when it has not stopped
# some polls (0.2 s apart) after SIGTERM.
drain=$1    # seconds to wait before stopping (0: none)
u=$2        # the unit
polls=$3    # polls after SIGTERM before SIGKILL
[ "$drain" = 0 ] || sleep "$drain"
gone() {
  case $(systemctl show --property=ActiveState --value -- "$u") in
    inactive|failed) return 0 ;; *) return 1 ;;
  esac
}
wait_gone() {
  i=0; while [ "$i" -lt "$1" ]; do gone && return 0; sleep 0.2; i=$((i + 1)); done; gone
}
systemctl stop --no-block -- "$u" || exit 1
wait_gone "$polls" && exit 0
echo "otter: $u did not stop in time: killing it" >&2
systemctl kill --signal=SIGKILL -- "$u"
wait_gone 50 || { echo "otter: $u does not stop" >&2; exit 1; }

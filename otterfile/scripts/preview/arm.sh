# Arms a preview's expiry: writes its preview.json and the removal it runs when the time is
# up (expire.sh, in its state folder, removed with it), then (re)starts a transient systemd
# timer that runs it once, SECONDS from now; while another run holds the preview's lock it
# exits 75 (scripts/preview/expire.sh) and its service starts again RETRY seconds later.
dir=$1      # the preview's state folder (/var/lib/otter/NAME--LABEL)
unit=$2     # the timer's unit name (otter-expire-NAME--LABEL)
seconds=$3  # from now until the removal
meta=$4     # preview.json's content
removal=$5  # the removal under the lock (scripts/preview/expire.sh), a shell command line
retry=$6    # seconds before a locked-out expiry tries again
# The timer first, so it cannot fire from here on. An expiry already running holds the
# preview's lock and is removing it: never stopped half-way; exit 75 and the run says so.
# One waiting to retry (a lock was held) is stopped: this run arms it anew.
systemctl stop "$unit.timer" >/dev/null 2>&1 || true
case $(systemctl show -p SubState --value "$unit.service" 2>/dev/null) in
  running|start)
    echo "otter: the expiry of this preview is removing it now" >&2
    exit 75 ;;
esac
set -e
umask 077
printf '%s\n' "$meta" > "$dir/preview.json.tmp"
mv -f "$dir/preview.json.tmp" "$dir/preview.json"
printf '%s\n' "$removal" > "$dir/expire.sh.tmp"
mv -f "$dir/expire.sh.tmp" "$dir/expire.sh"
systemctl stop "$unit.service" >/dev/null 2>&1 || true
systemctl reset-failed "$unit.timer" "$unit.service" >/dev/null 2>&1 || true
systemd-run --quiet --unit "$unit" --on-active="${seconds}s" --timer-property=AccuracySec=1s \
  --property=RestartForceExitStatus=75 --property=RestartSec="${retry}s" \
  --description "otter: remove the preview in $dir when it expires" /bin/sh "$dir/expire.sh"

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
set -e
umask 077
printf '%s\n' "$meta" > "$dir/preview.json.tmp"
mv -f "$dir/preview.json.tmp" "$dir/preview.json"
printf '%s\n' "$removal" > "$dir/expire.sh.tmp"
mv -f "$dir/expire.sh.tmp" "$dir/expire.sh"
systemctl stop "$unit.timer" "$unit.service" >/dev/null 2>&1 || true
systemctl reset-failed "$unit.timer" "$unit.service" >/dev/null 2>&1 || true
systemd-run --quiet --unit "$unit" --on-active="${seconds}s" --timer-property=AccuracySec=1s \
  --property=RestartForceExitStatus=75 --property=RestartSec="${retry}s" \
  --description "otter: remove the preview in $dir when it expires" /bin/sh "$dir/expire.sh"

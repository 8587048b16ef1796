# One read of a target for a deployment (run/target.py): the fingerprint key, the release
# state and instances, the served site, the port file of its upstream folder, the records
# of the artifacts otter started the deployment from (only those are ever pruned), how the
# proxy switches here, other proxy kinds' sites of the deployment and, for an artifact the
# ship stage will send, whether the target has it, which image layers it holds and the
# room where it lands, the maintenance flag, the release kept for the rollback window, a
# background retire's status and,
# for `plan --check --exit-code`, the files otter generated for it (run/drift.py) and, last,
# the schedules it has units of (schedule/list.sh). Each part after a marker line; an empty
# shell line skips its part.
site=$1     # the proxy's site file of the deployment
updir=$2    # its upstream folder (the port file)
key=$3      # shell line: print the fingerprint key, or ""
switch=$4   # shell line: the proxy's switch probe, or ""
old=$5      # shell line: other proxy kinds' sites of the deployment (run/handover.py), or ""
layers=$6   # shell line: list the image layers held, or ""
probe=$7    # shell line: does the target have the artifact, or ""
room=$8     # shell line: where the artifact lands and the room there (run/space.py), or ""
started=$9  # the folder of the deployment's started-artifact records (commands/store.py)
files=${10} # shell line: print the files otter generated (read-files.sh), or ""
units=${11} # shell line: list the deployment's schedule units (schedule/list.sh), or ""
shift 11    # the rest: the release-state read's argv (state/releases.sh)
k=$(sh -c "$key") || exit 1
printf '%s\n' "$k"  # the key file ends without a newline: the marker starts a line
echo "--- otter:key"
"$@"
echo "--- otter:site"
cat "$site" 2>/dev/null
# a site edited by hand may not end its last line: the marker starts a line of its own
[ -z "$(tail -c 1 "$site" 2>/dev/null)" ] || echo
echo "--- otter:upstream"
ls -1 "$updir" 2>/dev/null
echo "--- otter:started"
[ ! -d "$started" ] || ls -1 -- "$started"
echo "--- otter:switch"
[ -z "$switch" ] || sh -c "$switch" 2>/dev/null
if [ -n "$old" ]; then echo "--- otter:old-sites"; sh -c "$old"; fi
# maintenance mode's flag beside the upstream folder (proxies/maintenance.py): its message
if [ -d "${updir%/*}/maintenance" ]; then
  echo "--- otter:maintenance"; cat "${updir%/*}/maintenance/message" 2>/dev/null
fi
# the release kept for the rollback window (run/window.py): its id and deadline, then now
if [ -f "${updir%/*}/kept/release" ]; then
  echo "--- otter:kept"; cat "${updir%/*}/kept/release"; date +%s
fi
# a background retire (run/retire_later.py): its status file, then the seconds since it
# was last touched (its heartbeat: one that stopped ended without a word)
if [ -f "${updir%/*}/retire" ]; then
  echo "--- otter:retire"; cat "${updir%/*}/retire"
  echo "age=$(($(date +%s) - $(stat -c %Y "${updir%/*}/retire" 2>/dev/null || date +%s)))"
fi
found=""
if [ -n "$probe" ]; then
  echo "--- otter:probe"
  p=$(sh -c "$probe" 2>/dev/null) && found=$(printf '%s\n' "$p" | tail -n 1) &&
    printf '%s\n' "$found"
fi
# the target has the artifact: nothing ships, its layers are not needed
case $found in present | tagged) layers="" room="" ;; esac
if [ -n "$layers" ]; then echo "--- otter:layers"; sh -c "$layers"; fi
if [ -n "$room" ]; then echo "--- otter:space"; sh -c "$room"; fi
if [ -n "$files" ]; then echo "--- otter:files"; sh -c "$files"; fi
if [ -n "$units" ]; then echo "--- otter:schedules"; sh -c "$units"; fi
exit 0

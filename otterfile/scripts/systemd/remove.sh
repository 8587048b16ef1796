# Stop and disable units, remove their unit files and release folders (never the data
# folder); those already gone are no error.
#   remove.sh UNIT_FOLDER [UNIT RELEASE_FOLDER]...
d=$1 reload=0; shift
while [ $# -ge 2 ]; do
  u=$1 rel=$2; shift 2
  systemctl disable -q -- "$u" >/dev/null 2>&1
  systemctl stop -- "$u" >/dev/null 2>&1
  if systemctl is-active -q -- "$u"; then echo "otter: $u does not stop" >&2; exit 1; fi
  systemctl reset-failed -- "$u" >/dev/null 2>&1
  if [ -e "$d/$u" ]; then rm -f -- "$d/$u" || exit 1; reload=1; fi
  if [ -d "$rel" ]; then  # a schedule's run working in it holds a shared flock: its end
    : > "$rel.retired" || exit 1  # removes it (schedule/retired.sh), marked first
    flock -n -E 75 -x "$rel" rm -rf -- "$rel"; rc=$?
    case $rc in 0) rm -f -- "$rel.retired" ;; 75) echo "kept $rel: a schedule runs in it" ;; *) exit 1 ;; esac
  fi
done
[ "$reload" = 0 ] || systemctl daemon-reload

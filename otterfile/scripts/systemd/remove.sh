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
  rm -rf -- "$rel" || exit 1
done
[ "$reload" = 0 ] || systemctl daemon-reload

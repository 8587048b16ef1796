# On the controller: copy a built file into the artifact cache under its sha256 (once);
# prints the hex. Exit 3: the build made no such file.
f=$1        # the built file
d=$2        # the cache folder
[ -f "$f" ] || { echo "otter: the build made no file $f" >&2; exit 3; }
h=$(sha256sum "$f" | cut -d' ' -f1) || exit 1
mkdir -p "$d" || exit 1
if [ ! -f "$d/$h" ]; then
  { cp -- "$f" "$d/.$h.otter-tmp.$$" && mv -f "$d/.$h.otter-tmp.$$" "$d/$h"; } || exit 1
fi
echo "$h"

# Receive a file on stdin into the artifact store, under a private temporary name, its
# sha256 checked, then renamed: a partial or corrupt upload never looks complete.
# Exit 3: what arrived is not the digest asked for.
d=$1        # the store folder
want=$2     # the hex digest expected
umask 022; mkdir -p "$d" || exit 1
t="$d/.$want.otter-tmp.$$"
trap 'rm -f "$t"' EXIT
cat > "$t" || exit 1
got=$(sha256sum "$t" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "otter: received sha256 $got, expected $want" >&2; exit 3
fi
chmod 644 "$t" && mv -f "$t" "$d/$want"

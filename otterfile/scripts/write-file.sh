# Write stdin to a file atomically: a private temporary name in the same folder, then a
# rename, so readers never see half a file.
path=$1     # the file
mode=$2     # its mode (octal)
umask 077
mkdir -p "$(dirname "$path")" || exit 1
t="$path.otter-tmp.$$"
if cat > "$t" && chmod "$mode" "$t" && mv -f "$t" "$path"; then exit 0; fi
rm -f "$t"; exit 1

# Receive a file on stdin into the artifact store, under a private temporary name, its
# sha256 checked, then renamed: a partial or corrupt upload never looks complete.
# With a tar archive's compression (gz, zst or tar for none), the archive is also unpacked
# as it arrives, in the same pass, into a private folder "$d/.unpacked/<hex>" (mode 700):
# the decompressed stream cut one byte past `cut` bytes and counted, listed twice (names,
# and long for types and link targets) and unpacked by GNU tar into a fresh folder. Nothing
# there is judged here: the systemd start script checks the listing and the counts as it
# checks an archive it unpacks itself, and takes the tree only then (unpack.sh
# take_unpacked); anything short of a whole unpack is left to the start to unpack again.
# Exit 3: what arrived is not the digest asked for.
d=$1        # the store folder
want=$2     # the hex digest expected
z=${3:-}    # the archive's compression (gz, zst, tar: none); "": store only
cut=${4:-}  # most bytes to unpack on arrival
files=${5:-}  # most members to list on arrival
size=${6:-}   # the archive's size: unpacked on arrival only where room for it and `cut`
umask 022; mkdir -p "$d" || exit 1
t="$d/.$want.otter-tmp.$$" pre="$d/.unpacked" work=""
trap 'rm -f "$t"; [ -z "$work" ] || rm -rf "$work"' EXIT

unpacks() {  # GNU tar and tee, and the decompressor: else store only
  case $z in
    gz) command -v gzip ;; zst) command -v zstd ;; tar) true ;; *) false ;;
  esac >/dev/null 2>&1 || return 1
  tar --version 2>/dev/null | head -n 1 | grep -q "GNU tar" || return 1
  tee --version 2>/dev/null | head -n 1 | grep -q "GNU coreutils" || return 1
  # the store's own file never runs out of room for what is unpacked beside it
  room=$(df -Pk "$d" 2>/dev/null | awk 'NR == 2 { print $4 }')
  [ -n "$room" ] && [ "$((room * 1024))" -ge "$((size + cut))" ] || return 1
  { mkdir -p "$pre" && chmod 700 "$pre"; } 2>/dev/null || return 1
  for old in "$pre"/.*.otter-tmp.*; do  # left by receives that were killed
    [ ! -d "$old" ] || [ -z "$(find "$old" -maxdepth 0 -mmin +60)" ] || rm -rf -- "$old"
  done
  work=$(mktemp -d "$pre/.$want.otter-tmp.XXXXXX") || return 1
}

decompress() {
  case $z in
    gz) gzip -dc ;;
    zst) zstd -dcq ;;
    *) cat ;;
  esac
}

# stdin: the archive; writes $work/{tree,bytes,names,long,status}: status 0 when the unpack
# and both listings (flags as unpack.sh's list_tar) read the whole archive without an error
unpack_stream() {
  wc -c < "$work/tap" > "$work/bytes" &
  { tar -P -tv --numeric-owner -f - < "$work/long.in" > "$work/long"; echo "$?" > "$work/l.rc"
  } 2>/dev/null &
  # past `files` names the listing stops reading, which stops the unpack too
  { tar -P -tf - < "$work/names.in"; echo "$?" > "$work/n.rc"; } 2>/dev/null \
    | head -n "$((files + 1))" > "$work/names" &
  decompress | head -c "$((cut + 1))" | tee "$work/tap" "$work/long.in" "$work/names.in" \
    | tar -xf - -C "$work/tree" --no-same-owner --no-same-permissions 2>/dev/null
  x=$?
  wait
  [ "$x" = 0 ] && [ "$(cat "$work/l.rc")" = 0 ] && [ "$(cat "$work/n.rc")" = 0 ]
  echo "$?" > "$work/status"
}

if [ -n "$z" ] && [ -n "$cut" ] && [ -n "$files" ] && [ -n "$size" ] && unpacks \
    && mkdir -m 700 "$work/tree" && mkfifo "$work/in" "$work/sum" "$work/tap" "$work/long.in" \
      "$work/names.in"; then
  sha256sum < "$work/sum" > "$work/sha" &
  summer=$!
  unpack_stream < "$work/in" > /dev/null 2>&1 &
  unpacker=$!
  # -p: the unpack may stop early (a bad archive), the store and the sum go on
  tee -p "$work/in" "$work/sum" > "$t" || exit 1
  wait "$summer" || exit 1
  wait "$unpacker"
  got=$(cut -d' ' -f1 < "$work/sha")
else
  [ -z "$work" ] || rm -rf "$work"
  work=""
  cat > "$t" || exit 1
  got=$(sha256sum "$t" | cut -d' ' -f1)
fi
if [ "$got" != "$want" ]; then
  echo "otter: received sha256 $got, expected $want" >&2; exit 3
fi
chmod 644 "$t" && mv -f "$t" "$d/$want" || exit 1
[ -n "$work" ] || exit 0
{ echo "$z" > "$work/z" && echo "$cut" > "$work/cut" && mv -f "$work/status" "$work/done" \
  && rm -f "$work/in" "$work/sum" "$work/tap" "$work/long.in" "$work/names.in" \
  && rm -rf "${pre:?}/$want" && mv "$work" "$pre/$want"; } 2>/dev/null || exit 0
work=""

# Receive a file on stdin into the artifact store, under a private temporary name, its
# sha256 checked, then renamed: a partial or corrupt upload never looks complete.
# With a tar archive's compression (gz, zst or tar for none), the archive is also unpacked
# as it arrives, in the same pass, into a private folder "$d/.unpacked/<hex>" (mode 700):
# the decompressed stream cut one byte past `cut` bytes and counted (one `dd`), listed long
# (`tar -tv`, stopped past `files` members) and unpacked by GNU tar into a fresh folder,
# which names each member as it goes (the short listing). Nothing there is judged here: the
# systemd start script checks the listings and the counts as it checks an archive it unpacks
# itself, and takes the tree only then (unpack.sh take_unpacked); anything short of a whole
# unpack is left to the start to unpack again.
# Exit 3: what arrived is not the digest asked for.
d=$1        # the store folder
want=$2     # the hex digest expected
z=${3:-}    # the archive's compression (gz, zst, tar: none); "": store only
cut=${4:-}  # most bytes to unpack on arrival
files=${5:-}  # most members to list on arrival
size=${6:-}   # the archive's size: unpacked on arrival only where room for it and `cut`
umask 022; mkdir -p "$d" || exit 1
t="$d/.$want.otter-tmp.$$" pre="$d/.unpacked" work="" gunzip="gzip -dc"
empty_gz='\037\213\010\0\0\0\0\0\0\003\003\0\0\0\0\0\0\0\0\0'
trap 'rm -f "$t"; [ -z "$work" ] || rm -rf "$work"' EXIT

unpacks() {  # GNU tar and coreutils, and the decompressor: else store only
  case $z in
    gz) command -v gzip ;; zst) command -v zstd ;; tar) true ;; *) false ;;
  esac >/dev/null 2>&1 || return 1
  # zstd built with zlib reads gzip too, 5 times faster than gzip itself (an empty member)
  if [ "$z" = gz ] && command -v zstd >/dev/null 2>&1 && printf '%b' "$empty_gz" \
      | zstd -dcq --format=gzip >/dev/null 2>&1; then
    gunzip="zstd -dcq --format=gzip"
  fi
  case $(tar --version 2>/dev/null) in "tar (GNU tar)"*) ;; *) return 1 ;; esac
  # what GNU coreutils' tee and dd do here (BusyBox's lack both)
  { tee -p < /dev/null && dd if=/dev/null iflag=count_bytes count=0; } >/dev/null 2>&1 \
    || return 1
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
    gz) $gunzip ;;
    zst) zstd -dcq ;;
    *) cat ;;
  esac
}

digest() {  # stdin's sha256 as "HEX ...": OpenSSL's is 2-3 times faster than sha256sum
  # (an OpenSSL that fails says no digest: the file is summed again below)
  if command -v openssl >/dev/null 2>&1; then openssl dgst -sha256 -r || :; else sha256sum; fi
}

# $w: the first word of the first line of FILE ("" when none), without a process.
first() { w=""; read -r w _ < "$1" || :; }

# stdin: the archive; writes $work/{tree,bytes,names,long,status}: status 0 when the unpack
# and the long listing (flags as unpack.sh's list_tar) read the whole archive without an
# error. The unpack names each member as `tar -t` does (-v, the names as stored: a leading
# "/" is named though not unpacked, a ".." member is an error).
unpack_stream() {
  # past `files` members the listing stops reading, which stops the unpack too
  { tar -P -tv --numeric-owner -f - < "$work/long.in"; echo "$?" > "$work/l.rc"
  } 2>/dev/null | head -n "$((files + 1))" > "$work/long" &
  decompress | LC_ALL=C dd bs=64K iflag=fullblock,count_bytes count="$((cut + 1))" 2> "$work/dd" \
    | tee "$work/long.in" \
    | tar -xv --index-file="$work/names" -f - -C "$work/tree" --no-same-owner \
      --no-same-permissions 2>/dev/null
  x=$?
  wait
  while read -r n rest; do  # dd's last words: "N bytes (...) copied, ..."
    case $rest in byte*copied*) echo "$n" > "$work/bytes" ;; esac
  done < "$work/dd"
  first "$work/l.rc"
  [ "$x" = 0 ] && [ "$w" = 0 ] && [ -f "$work/bytes" ]
  echo "$?" > "$work/status"
}

if [ -n "$z" ] && [ -n "$cut" ] && [ -n "$files" ] && [ -n "$size" ] && unpacks \
    && mkdir -m 700 "$work/tree" && mkfifo "$work/in" "$work/sum" "$work/long.in"; then
  digest < "$work/sum" > "$work/sha" &
  summer=$!
  unpack_stream < "$work/in" > /dev/null 2>&1 &
  unpacker=$!
  # -p: the unpack may stop early (a bad archive), the store and the sum go on
  tee -p "$work/in" "$work/sum" > "$t"
  teed=$?
  wait "$summer"
  summed=$?
  wait "$unpacker"  # before anything of it is removed
  [ "$teed" = 0 ] && [ "$summed" = 0 ] || exit 1
  first "$work/sha" && got=$w
else
  [ -z "$work" ] || rm -rf "$work"
  work=""
  cat > "$t" || exit 1
  got=$(digest < "$t") && got=${got%% *}
fi
case $got in *[!0-9a-f]*) got="" ;; esac
# an OpenSSL that said something else: the file again, by sha256sum
[ "${#got}" = 64 ] || { got=$(sha256sum < "$t") && got=${got%% *}; }
if [ "$got" != "$want" ]; then
  echo "otter: received sha256 $got, expected $want" >&2; exit 3
fi
chmod 644 "$t" && mv -f "$t" "$d/$want" || exit 1
[ -n "$work" ] || exit 0
{ echo "$z" > "$work/z" && echo "$cut" > "$work/cut" && mv -f "$work/status" "$work/done" \
  && rm -rf -- "$work/in" "$work/sum" "$work/long.in" "$work/dd" "${pre:?}/$want" \
  && mv "$work" "$pre/$want"; } 2>/dev/null || exit 0
work=""

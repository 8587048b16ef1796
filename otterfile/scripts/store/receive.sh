# Receive a file on stdin into the artifact store, under a private temporary name, its
# sha256 checked, then renamed: a partial or corrupt upload never looks complete.
# With a tar archive's compression (gz, zst or tar for none), the archive is also unpacked
# as it arrives, in the same pass, into a private folder "$d/.unpacked/<hex>" (mode 700):
# one `tee` writes the store's file and feeds the decompressor, whose stream GNU tar unpacks
# into a fresh folder while it lists each member long (`-vv`, names C-quoted: unambiguous)
# into `index`, stopped past `files` + 1 lines, killed within two records past `cut` bytes (a
# checkpoint) and counting the bytes it read (`--totals`); the sha256 is taken from the
# stored file once it is whole. Nothing there is judged here: the systemd start script
# checks the listing and the count as it checks an archive it unpacks itself, and takes the
# tree only then (unpack.sh unpacked_ok); anything short of a whole, quiet unpack (an
# error or a warning of tar's, the decompressor's failure, a cut) is left to the start to
# unpack again.
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
record=10240  # GNU tar's record on a pipe: 20 blocks of 512 bytes
trap 'rm -f "$t" "$t.cut"; [ -z "$work" ] || rm -rf "$work"' EXIT

unpacks() {  # GNU tar and coreutils' tee, and the decompressor: else store only
  case $z in
    gz) command -v gzip ;; zst) command -v zstd ;; tar) true ;; *) false ;;
  esac >/dev/null 2>&1 || return 1
  # zstd built with zlib reads gzip too, 5 times faster than gzip itself (an empty member)
  if [ "$z" = gz ] && command -v zstd >/dev/null 2>&1 && printf '%b' "$empty_gz" \
      | zstd -dcq --format=gzip >/dev/null 2>&1; then
    gunzip="zstd -dcq --format=gzip"
  fi
  case $(tar --version 2>/dev/null) in "tar (GNU tar)"*) ;; *) return 1 ;; esac
  tee -p < /dev/null > /dev/null 2>&1 || return 1  # GNU's (BusyBox's lacks -p)
  # the store's own file never runs out of room for what is unpacked beside it (the cut
  # lands within two records past `cut`)
  room=$(df -Pk "$d" 2>/dev/null | { read -r _; read -r _ _ _ a _; echo "${a:-}"; })
  [ -n "$room" ] && [ "$((room * 1024))" -ge "$((size + cut + 2 * record))" ] || return 1
  if [ -d "$pre" ]; then chmod 700 "$pre"; else mkdir -m 700 "$pre"; fi 2>/dev/null || return 1
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

# stdin: the archive; writes $work/{tree,index,bytes,status}: status 0 when the archive was
# decompressed and unpacked whole, tar said nothing but its count, and the listing was not
# stopped. The listing names each member as stored (a leading "/" named though unpacked
# below the tree; a ".." member is an error, not listed).
unpack_stream() {
  # past `files` + 1 lines the listing stops reading, which stops the unpack too (the
  # start refuses `files` + 1 members); past `cut`
  # bytes a checkpoint (every `cut` / `record` + 2 records: once) kills the unpack
  # shellcheck disable=SC2016  # $PPID is the checkpoint's own: tar's process
  { decompress; echo "$?" > "$work/z.rc"; } \
    | { LC_ALL=C tar -xvv --totals --quoting-style=c --numeric-owner \
          --checkpoint="$((cut / record + 2))" --checkpoint-action='exec=kill $PPID' \
          -f - -C "$work/tree" --no-same-owner --no-same-permissions 2> "$work/err"
        echo "$?" > "$work/x.rc"; } \
    | awk -v n="$((files + 1))" 'NR > n { exit 3 } { print }' > "$work/index" \
    || return 1  # the listing was stopped (tar may have written it all by then: its 0)
  first "$work/z.rc" && [ "$w" = 0 ] && first "$work/x.rc" && [ "$w" = 0 ] || return 1
  # tar's last words: "Total bytes read: N (...)"; nothing else but that it unpacks a
  # member named "/x" below the tree (the listing names it as stored: the start refuses it).
  # A hard link's target it changed ("../x" to "x") is listed changed: unpack here.
  while IFS= read -r line; do
    case $line in
      "Total bytes read: "[0-9]*) n=${line#Total bytes read: }; echo "${n%% *}" > "$work/bytes" ;;
      "tar: Removing leading "*" from member names") ;;
      *) return 1 ;;
    esac
  done < "$work/err"
  [ -f "$work/bytes" ]
}

# The stream into the store's file (and the unpack, given $work): read by one process,
# whose run's lock the receive watches itself when guarded (feed-watch.sh; the guard
# exports OTTER_GUARD_*: a cut kills that reader, and the receive fails as truncated).
feed() {
  exec 3<&0
  if [ -n "$work" ]; then
    # -p: the unpack may stop early (a bad archive), the store goes on
    tee -p "$work/in" <&3 3<&- > "$t" &
  else
    cat <&3 3<&- > "$t" &
  fi
  feeder=$! watcher=""
  exec 3<&-
  if [ -n "${OTTER_GUARD_LOCK:-}" ]; then
    watch_feed "$feeder" "$OTTER_GUARD_LOCK" "${OTTER_GUARD_RUN:-}" \
      "${OTTER_GUARD_LIMIT:-30}" "$t.cut" &
    watcher=$!
  fi
  wait "$feeder"
  fed=$?
  [ -z "$watcher" ] || kill "$watcher" 2>/dev/null
  return "$fed"
}

if [ -n "$z" ] && [ -n "$cut" ] && [ -n "$files" ] && [ -n "$size" ] && unpacks \
    && mkdir -m 700 "$work/tree" && mkfifo "$work/in"; then
  { unpack_stream < "$work/in"; echo "$?" > "$work/status"; } > /dev/null 2>&1 &
  unpacker=$!
  feed
  fed=$?
  [ "$fed" != 0 ] || { got=$(digest < "$t") && got=${got%% *}; }
  wait "$unpacker"  # before anything of it is removed
else
  [ -z "$work" ] || rm -rf "$work"
  work=""
  feed
  fed=$?
  [ "$fed" != 0 ] || { got=$(digest < "$t") && got=${got%% *}; }
fi
if [ "$fed" != 0 ]; then
  cut_said "$t.cut" "${OTTER_GUARD_RUN:-}"
  exit 1
fi
case $got in *[!0-9a-f]*) got="" ;; esac
# an OpenSSL that said something else: the file again, by sha256sum
[ "${#got}" = 64 ] || { got=$(sha256sum < "$t") && got=${got%% *}; }
if [ "$got" != "$want" ]; then
  echo "otter: received sha256 $got, expected $want" >&2; exit 3
fi
mv -f "$t" "$d/$want" || exit 1  # 644: made under umask 022
[ -n "$work" ] || exit 0
{ echo "$z" > "$work/z" && echo "$cut" > "$work/cut" && mv -f "$work/status" "$work/done" \
  && rm -rf -- "$work/in" "$work/err" "$work/z.rc" "$work/x.rc" "${pre:?}/$want" \
  && mv "$work" "$pre/$want"; } 2>/dev/null || exit 0
work=""

# Archives as the systemd runtime unpacks them: functions its start script includes.
# The caller defines `fail MESSAGE` (prints it, exits non-zero), `tmpd` (a private
# temporary folder) and `what` (how a message names the artifact).
#   archive_kind FILE               sets `kind` (tar, zip or single) and `z` (gz, zst or "")
#   set_limits FILE BYTES FILES     sets `max_bytes` and `max_files` ("": the defaults below)
#   check_members FILE              lists and checks every member; writes only under $tmpd
#   unpack_into FILE FOLDER NAME    unpacks (a single file is copied in as NAME)
#   unpacked_ok PRE                 checks what receive unpacked on arrival, as above
# The unpacked size is counted on the decompressed stream itself, never read from headers:
# every pass over a tar stream (listing, unpacking) stops one byte past max_bytes and fails
# naming the limit; a zip is unpacked to a counter before anything is written.

# shellcheck disable=SC2154  # fail, tmpd and what come from the start script
# The defaults: 20 times the artifact's size, at least 64 MiB, at most 10 GiB; 200,000 files.
RATIO=20 FLOOR=67108864 CEILING=10737418240 FILES=200000

archive_kind() {
  magic=$(od -An -tx1 -N4 "$1" | tr -d ' \n')
  z="" kind=tar
  case $magic in
    1f8b*) z=gz ;;
    28b52ffd) z=zst
      command -v zstd >/dev/null 2>&1 || fail "$what is a zstd file: install zstd to unpack it" ;;
    504b0304) kind=zip
      command -v unzip >/dev/null 2>&1 || fail "$what is a zip file: install unzip to unpack it" ;;
    425a68*|fd377a58|377abcaf|52617221|4c5a4950)
      fail "$what is an archive otter cannot unpack (bzip2, xz, 7z, rar or lzip):" \
        "use tar.gz, tar.zst, zip or tar" ;;
    *) [ "$(dd if="$1" bs=1 skip=257 count=5 2>/dev/null)" = ustar ] || kind=single ;;
  esac
  # defer_tar=1: asked when tar first lists or unpacks (not at all for a tree the store's
  # receive unpacked with GNU tar as it arrived)
  [ "$kind" != tar ] || [ -n "${defer_tar:-}" ] || gnu_tar
}

# BusyBox tar (and bsdtar) list and unpack differently: every archive would fail oddly.
gnu_tar() {
  [ -z "${gnu_tar_ok:-}" ] || return 0
  where=$(command -v tar) || fail "$what is a tar archive and tar is not installed:" \
    "install GNU tar (apt-get install tar)"
  version=$(tar --version 2>&1 | head -n 1)
  case $version in
    *"GNU tar"*) gnu_tar_ok=1; return 0 ;;
    *[Bb]usy[Bb]ox*) which="BusyBox tar" ;;
    *) which="not GNU tar" ;;
  esac
  fail "$what is a tar archive, and $where is $which (${version:-it says nothing}):" \
    "otter checks and unpacks archives with GNU tar; install it (Debian: apt-get install" \
    "tar; Alpine: apk add tar) and put it first on PATH"
}

set_limits() {
  max_bytes=$2 max_files=${3:-$FILES}
  rule="the limit systemd(max_unpacked=...) sets"
  if [ -z "$max_bytes" ]; then
    size=$(wc -c < "$1") || exit 1
    max_bytes=$((size * RATIO))
    [ "$max_bytes" -ge "$FLOOR" ] || max_bytes=$FLOOR
    [ "$max_bytes" -le "$CEILING" ] || max_bytes=$CEILING
    rule="the default limit: $RATIO times its $size bytes, at least 64 MiB, at most 10 GiB;"
    rule="$rule raise it with systemd(max_unpacked=...)"
  fi
}

too_big() {
  fail "refusing $what: it unpacks to more than $(human "$max_bytes"), $rule"
}

human() {  # 67108864 -> "64.0 MiB (67108864 bytes)"
  if [ "$1" -ge 1073741824 ]; then in=GiB per=1073741824
  elif [ "$1" -ge 1048576 ]; then in=MiB per=1048576
  else echo "$1 bytes"; return; fi
  echo "$(($1 / per)).$(($1 % per * 10 / per)) $in ($1 bytes)"
}

# The decompressed stream of FILE.
stream() {
  case $z in
    gz) gzip -dc < "$1" ;;
    zst) zstd -dcq < "$1" ;;
    *) cat < "$1" ;;
  esac
}

# FILE COMMAND...: COMMAND reads FILE's decompressed stream, cut one byte past max_bytes.
# Returns COMMAND's exit status, or 99 when the stream is longer (see `passed`).
limited() {
  f=$1; shift
  rm -f "$tmpd/tap" && mkfifo "$tmpd/tap" || exit 1
  wc -c < "$tmpd/tap" > "$tmpd/bytes" &
  counter=$!
  stream "$f" | head -c "$((max_bytes + 1))" | tee "$tmpd/tap" | "$@"
  rc=$?
  wait "$counter"
  [ "$(tr -dc 0-9 < "$tmpd/bytes")" -le "$max_bytes" ] || rc=99
  return "$rc"
}

# STATUS MESSAGE: a `limited` pass failed (over the limit, or MESSAGE and tar's last words).
passed() {
  [ "$1" != 99 ] || too_big
  [ "$1" = 0 ] || fail "$2: $(tail -n 3 "$tmpd/err")"
}

# Writes "TYPE<tab>NAME<tab>LINK TARGET" lines to $tmpd/members, then checks them.
check_members() {
  : > "$tmpd/members"
  case $kind in
    tar) list_tar "$1" ;;
    zip) list_zip "$1" ;;
    *) return 0 ;;
  esac
  judge_members
}

# The checks of $tmpd/members (see check_members): fails on the first bad one.
judge_members() {
  count=$(wc -l < "$tmpd/members")
  [ "$count" -le "$max_files" ] || fail "refusing $what: it has $count files, more than" \
    "the limit of $max_files (raise it with systemd(max_files=...))"
  why=$(awk '@CHECK_AWK@' "$tmpd/members") || fail "${why:-cannot check $what}"
}

names_and_copy() { tee "$tmpd/copy" | tar -P -tf -; }

list_tar() {
  gnu_tar
  # -P: names as stored (tar would list `/x` and hard links to `../x` without their prefix);
  # --numeric-owner: an owner's name could hold " -> " and hide a link's target
  # both listings from one pass over the stream (the long one reads a copy through a fifo)
  rm -f "$tmpd/copy" && mkfifo "$tmpd/copy" || exit 1
  tar -P -tv --numeric-owner -f - < "$tmpd/copy" > "$tmpd/long" 2> "$tmpd/err.long" &
  lister=$!
  limited "$1" names_and_copy > "$tmpd/names" 2> "$tmpd/err"
  rc=$?
  wait "$lister" || { [ "$rc" != 0 ] || { cat "$tmpd/err.long" > "$tmpd/err"; rc=1; }; }
  passed "$rc" "$what cannot be read as a tar archive"
  join_listings
}

# $tmpd/names (tar -t) and $tmpd/long (tar -tv) -> $tmpd/members, line by line.
join_listings() {
  awk 'NR == FNR { n[FNR] = $0; next }
    { t = substr($0, 1, 1); m = n[FNR]; x = ""; a = (t == "l") ? " -> " : " link to "
      if (t == "l" || t == "h") {
        i = index($0, " " m a); x = i ? substr($0, i + length(m) + length(a) + 1) : "?" }
      print t "\t" m "\t" x }' "$tmpd/names" "$tmpd/long" > "$tmpd/members"
  [ "$(wc -l < "$tmpd/names")" = "$(wc -l < "$tmpd/members")" ] \
    || fail "$what: cannot list its members"
}

# PRE: whether the tree the store's receive unpacked while the archive arrived
# (store/receive.sh: PRE/tree) passes the checks of an unpack here: its counted bytes and
# files within the limits, every member passing archive-check.awk (fails naming the first
# that does not). Returns 1 when there is none, or no whole unpack to judge: unpack here.
unpacked_ok() {
  [ "$kind" = tar ] && [ -f "$1/done" ] && [ -f "$1/index" ] || return 1
  # the receive's one-line files, read without a process each
  { read -r status < "$1/done" && read -r was < "$1/z" && read -r got < "$1/bytes" \
    && read -r cut < "$1/cut"; } 2>/dev/null || return 1
  [ "$status" = 0 ] && [ "$was" = "${z:-tar}" ] || return 1
  case $got in ''|*[!0-9]*) return 1 ;; esac
  case $cut in ''|*[!0-9]*) return 1 ;; esac
  [ "$got" -le "$cut" ] || return 1  # cut short: unpack here
  [ "$got" -le "$max_bytes" ] || too_big
  read_index "$1/index" > "$tmpd/members" || return 1
  judge_members
}

# FILE: GNU tar's long listing with C-quoted names (`tar -xvv --quoting-style=c
# --numeric-owner`) as "TYPE<tab>NAME<tab>LINK TARGET" lines, names as `tar -t` shows them
# (its escapes, a quote bare); tar's own "Creating directory" lines left out. Fails on a
# line it cannot read.
read_index() {
  awk '
    function quoted(s) {  # the C-quoted string s starts with, unquoted; sets rest
      if (!match(s, /^"([^"\\]|\\.)*"/)) { bad = 1; return "" }
      rest = substr(s, RLENGTH + 1); s = substr(s, 2, RLENGTH - 2)
      gsub(/\\"/, "\"", s)
      return s
    }
    {
      q = index($0, "\""); split(substr($0, 1, q - 1), f, " ")
      if (q && f[2] == "Creating") next
      if (!q || f[2] !~ /^[0-9]+\/[0-9]+$/) exit 1
      t = substr($0, 1, 1); name = quoted(substr($0, q)); x = ""
      if (t == "l" || t == "h") {
        a = (t == "l") ? " -> " : " link to "
        if (substr(rest, 1, length(a)) != a) exit 1
        x = quoted(substr(rest, length(a) + 1))
      }
      if (bad) exit 1
      print t "\t" name "\t" x
    }' "$1"
}

list_zip() {
  { unzip -Z1 "$1" > "$tmpd/names" && unzip -Z "$1" > "$tmpd/long"; } 2> "$tmpd/err" \
    || fail "$what cannot be read as a zip archive: $(tail -n 3 "$tmpd/err")"
  # the sizes in a zip's directory are its own word: count what it really unpacks to
  size=$(unzip -p "$1" 2>/dev/null | head -c "$((max_bytes + 1))" | wc -c)
  [ "$size" -le "$max_bytes" ] || too_big
  sed '1,2d;$d' "$tmpd/long" | cut -c1 | paste - "$tmpd/names" > "$tmpd/pairs"
  [ "$(wc -l < "$tmpd/names")" = "$(wc -l < "$tmpd/pairs")" ] \
    || fail "$what: cannot list its members"
  tab=$(printf '\t')
  while IFS= read -r line; do
    t=${line%%"$tab"*} m=${line#*"$tab"} x=""
    if [ "$t" = l ]; then
      case $m in  # unzip reads a member argument as a pattern
        *[][*?\\]*) fail "refusing the artifact: link $m has wildcard characters in its name" ;;
      esac
      x=$(unzip -p "$1" "$m") || fail "$what: cannot read the link $m"
    fi
    printf '%s\t%s\t%s\n' "$t" "$m" "$x"
  done < "$tmpd/pairs" > "$tmpd/members"
}

unpack_into() {
  case $kind in
    tar) gnu_tar
         limited "$1" tar -xf - -C "$2" --no-same-owner --no-same-permissions 2> "$tmpd/err"
         passed $? "unpacking $what failed" ;;
    zip) unzip -qq -o "$1" -d "$2" 2> "$tmpd/err" \
           || fail "unpacking $what failed: $(tail -n 3 "$tmpd/err")" ;;
    single) mkdir -p "$(dirname "$2/$3")" && cp "$1" "$2/$3" && chmod 755 "$2/$3" || exit 1 ;;
  esac
}

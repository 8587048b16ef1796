#!/bin/sh
# Add (authorize) or remove (unauthorize) one relay transfer's key in this user's
# ~/.ssh/authorized_keys, so that the operator's own lines stay byte-identical.
#   relay-keys.sh ACTION TOKEN RUN WHEN ENGINE DIGEST TAG KEYTYPE BLOB
#   authorize:   WHEN = seconds the key lives; stdin = the forced command's script (kept as
#                ~/.ssh/otter-relay/TOKEN.sh); prints `otter-authorized EXPIRES` and
#                `otter-peer ADDRESS PORT` (where this sshd was reached, from $SSH_CONNECTION)
#   unauthorize: WHEN = the EXPIRES authorize printed ("": unknown, any)
# The line otter adds, one per transfer (TAG "-": none):
#   restrict,command="sh DIR/TOKEN.sh ENGINE DIGEST TAG EXPIRES" KEYTYPE BLOB otter-relay run=RUN expires=EXPIRES
# Every authorize also sweeps lines of that exact form whose expiry passed (killed runs).
# Edits are serialised (flock, else a lock folder), written to a temporary file in the
# file's own folder (fsync, same mode, owner and SELinux label), verified, then renamed;
# when anything fails the original stays as it was. A symlinked authorized_keys: its target
# is edited the same way, the link kept.
set -u
action=$1 token=$2 run=$3 when=$4 engine=$5 digest=$6 tag=$7 ktype=$8 blob=$9
LC_ALL=C
export LC_ALL
umask 077
cr=$(printf '\r')
temps=""
lockdir=""

cleanup() {
  for f in $temps; do rm -f "$f"; done
  if [ -n "$lockdir" ]; then rm -rf "$lockdir"; fi
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

fail() {
  echo "otter-relay: $*; authorized_keys left as it was" >&2
  exit 1
}

# every value ends up in a line sshd parses and a command a shell runs: a small alphabet
only() {  # NAME VALUE REFUSED-PATTERN
  # shellcheck disable=SC2254 # $3 is the pattern
  case $2 in "" | $3) fail "bad $1 '$2'" ;; esac
}
set -f
only action "$action" "*[!a-z]*"
only token "$token" "*[!0-9a-f]*"
only run "$run" "*[!A-Za-z0-9._-]*"
only engine "$engine" "*[!a-z]*"
only digest "${digest#sha256:}" "*[!0-9a-f]*"
only tag "$tag" "*[!A-Za-z0-9._/:@-]*"
only "key type" "$ktype" "*[!a-z0-9-]*"
only key "$blob" "*[!A-Za-z0-9+/=]*"
only home "${HOME:-}" "*[!A-Za-z0-9._/-]*"
case $digest in sha256:*) ;; *) fail "bad digest '$digest'" ;; esac
if [ "${#digest}" -ne 71 ] || [ "${#token}" -ne 16 ]; then fail "bad digest or token"; fi
case $HOME in /*) ;; *) fail "HOME '$HOME' is not an absolute path" ;; esac
case $tag in -?*) fail "bad tag '$tag'" ;; esac
case $when in *[!0-9]*) fail "bad time '$when'" ;; esac
set +f

dir=$HOME/.ssh/otter-relay
keys=$HOME/.ssh/authorized_keys
# a line of exactly the form otter adds (whichever run): what the sweep may remove
re="^restrict,command=\"sh /[A-Za-z0-9._/-]*/\\.ssh/otter-relay/[0-9a-f]+\\.sh [a-z]+ sha256:[0-9a-f]+ [A-Za-z0-9._/:@-]+ [0-9]+\" [a-z0-9-]+ [A-Za-z0-9+/=]+ otter-relay run=[A-Za-z0-9._-]+ expires=[0-9]+$cr?\$"

line_for() {  # EXPIRES
  echo "restrict,command=\"sh $dir/$token.sh $engine $digest $tag $1\" $ktype $blob otter-relay run=$run expires=$1"
}

temp() {  # FOLDER: $made, a new empty file there (0600), removed on exit unless renamed
  made=$(mktemp "$1/.otter-relay.XXXXXX") || fail "cannot make a temporary file in $1"
  temps="$temps $made"
}

lock() {
  if command -v flock >/dev/null 2>&1; then
    exec 9>>"$dir/lock" || fail "cannot open $dir/lock"
    flock -w 120 9 || fail "another run held $dir/lock for 120 s"
    return
  fi
  # no flock: a lock folder; only a run killed (SIGKILL) while holding it leaves it behind
  n=0
  until mkdir "$dir/lock.d" 2>/dev/null; do
    n=$((n + 1))
    [ "$n" -le 120 ] || fail "$dir/lock.d was held for 120 s (left by a killed run? remove it)"
    sleep 1
  done
  lockdir=$dir/lock.d
}

lacks_newline() {  # FILE: not empty and its last byte is no newline
  [ -s "$1" ] && [ -n "$(tail -c 1 "$1")" ]
}

# FILE without: the lines equal to LINE (or LINE + CR); with LINE "-", otter's lines of this
# token; with NOW, otter's lines whose expiry passed. A last line keeps its lack of newline.
keep() {  # LINE NOW FILE
  nonl=0
  if lacks_newline "$3"; then nonl=1; fi
  OTTER_LINE=$1 OTTER_RE=$re OTTER_TOKEN="/otter-relay/$token.sh " \
    awk -v now="$2" -v nonl="$nonl" '
    function expired(s) { sub(/\r$/, "", s); sub(/.* expires=/, "", s); return s + 0 < now + 0 }
    {
      mine = ENVIRON["OTTER_LINE"]; drop = 0
      if (mine == "-") drop = ($0 ~ ENVIRON["OTTER_RE"] && index($0, ENVIRON["OTTER_TOKEN"]) > 0)
      else if (mine != "") drop = ($0 == mine || $0 == mine "\r")
      if (!drop && now != "" && $0 ~ ENVIRON["OTTER_RE"] && expired($0)) drop = 1
      if (drop) next
      if (held) printf "%s\n", buf
      buf = $0; held = 1; last = NR
    }
    END { if (held) printf((nonl && last == NR) ? "%s" : "%s\n", buf) }' "$3"
}

operators() {  # FILE: its lines that are not otter's
  grep -vE "$re" "$1" || [ $? -eq 1 ]
}

# the operator's lines of $target and of FILE must be the same bytes
check_operators() {  # FILE
  temp "$dir"; a=$made
  temp "$dir"; b=$made
  operators "$target" >"$a" || fail "cannot read $target"
  operators "$1" >"$b" || fail "cannot read $1"
  cmp -s "$a" "$b" || fail "verification failed: the new file would change the operator's lines"
}

perms() {  # FILE: type and mode, owner, group
  # shellcheck disable=SC2012 # ls -n: the portable way to read the numeric owner
  ls -ldn -- "$1" | awk '{ print substr($1, 1, 10), $3, $4 }'
}

# FILE becomes $target: a temporary file beside it, fsync, same mode/owner, verified, rename
install() {  # FILE
  tdir=$(dirname "$target")
  temp "$tdir"; tmp=$made
  cp -p "$target" "$tmp" || fail "cannot copy $target's mode and owner"
  if command -v chcon >/dev/null 2>&1; then chcon --reference="$target" "$tmp" 2>/dev/null; fi
  dd if="$1" of="$tmp" conv=fsync 2>/dev/null || fail "writing $tmp failed"
  cmp -s "$1" "$tmp" || fail "$tmp does not hold what was written (disk full?)"
  [ "$(perms "$tmp")" = "$(perms "$target")" ] ||
    fail "$tmp would not keep the mode and owner of $target"
  mv -f "$tmp" "$target" || fail "cannot rename $tmp to $target"
  sync "$tdir" 2>/dev/null || :
}

forget_scripts() {  # remove the forced-command scripts no line refers to any more
  for f in "$dir"/*.sh; do
    [ -f "$f" ] || continue
    grep -qF "sh $f " "$target" 2>/dev/null || rm -f "$f"
  done
}

resolve() {
  target=$keys
  if [ -L "$keys" ]; then
    target=$(readlink -f "$keys") || fail "cannot resolve the link $keys"
    [ -f "$target" ] || fail "$keys is a link to no file"
  fi
}

authorize() {
  case $when in "" | 0) fail "bad lifetime '$when'" ;; esac
  now=$(date +%s)
  expires=$((now + when))
  line=$(line_for "$expires")
  for d in "$HOME/.ssh" "$dir"; do  # another run may be making it too
    [ -d "$d" ] || mkdir -m 700 "$d" 2>/dev/null || [ -d "$d" ] || fail "cannot make $d"
  done
  lock
  resolve
  rm -f "$(dirname "$target")"/.otter-relay.?????? "$dir"/.otter-relay.??????
  if [ ! -e "$target" ]; then
    : >"$target" || fail "cannot create $target"
    : >"$dir/created"
  fi
  temp "$dir"; code=$made
  cat >"$code" || fail "cannot write $code"
  [ -s "$code" ] || fail "no forced command script on stdin"
  mv -f "$code" "$dir/$token.sh" || fail "cannot write $dir/$token.sh"
  temp "$dir"; new=$made
  keep "" "$now" "$target" >"$new" || fail "cannot read $target"
  if lacks_newline "$new"; then  # the operator's last line: ended before ours is added
    printf '\n' >>"$new"
    operators "$new" | cksum >"$dir/eol"
  elif [ -f "$dir/eol" ] && ! grep -qE "$re" "$new" &&
    [ "$(cksum <"$new")" != "$(cat "$dir/eol")" ]; then
    rm -f "$dir/eol"  # the operator changed the file since: that newline is theirs now
  fi
  printf '%s\n' "$line" >>"$new"
  check_operators "$new"
  [ "$(grep -cxF -- "$line" "$new")" = 1 ] || fail "verification failed: the key is not in once"
  install "$new"
  forget_scripts
  echo "otter-authorized $expires"
  read -r _ _ address port _ <<EOF
${SSH_CONNECTION:-}
EOF
  echo "otter-peer ${address:-} ${port:-}"
}

unauthorize() {
  [ -d "$dir" ] || exit 0
  lock
  resolve
  if [ ! -f "$target" ]; then rm -f "$dir/$token.sh"; exit 0; fi
  line=-  # the expiry is not known: this token's lines
  if [ -n "$when" ]; then line=$(line_for "$when"); fi
  temp "$dir"; new=$made
  keep "$line" "" "$target" >"$new" || fail "cannot read $target"
  if cmp -s "$new" "$target"; then forget_scripts; exit 0; fi  # none of ours there
  last=""
  if ! grep -qE "$re" "$new"; then  # the last otter line: undo what otter added around them
    last=1
    if [ -f "$dir/eol" ] && [ "$(cksum <"$new")" = "$(cat "$dir/eol")" ]; then
      temp "$dir"; strip=$made
      awk 'NR > 1 { printf "\n" } { printf "%s", $0 }' "$new" >"$strip" || fail "cannot strip"
      new=$strip
    fi
  fi
  check_operators "$new"
  if grep -E "$re" "$new" | grep -qF "sh $dir/$token.sh "; then
    fail "verification failed: the key would stay"
  fi
  if [ -n "$last" ] && [ ! -s "$new" ] && [ -f "$dir/created" ] && [ ! -L "$keys" ]; then
    rm -f "$target" || fail "cannot remove $target"  # otter made it for its keys alone
  else
    install "$new"
  fi
  if [ -n "$last" ]; then rm -f "$dir/eol" "$dir/created"; fi
  forget_scripts
}

case $action in
  authorize) authorize ;;
  unauthorize) unauthorize ;;
  *) fail "unknown action '$action'" ;;
esac

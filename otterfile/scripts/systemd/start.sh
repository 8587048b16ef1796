# Start a release as a systemd unit, in one round trip: write the store's record, write the
# env file from stdin, unpack the stored artifact into the release folder (refusing members
# that escape it, links out, device files and archives over the limits; or takes the tree
# the store's receive unpacked as it arrived, after the same checks), make the user, pick
# a free port of 127.0.0.1, install the unit (verified with systemd-analyze) and start it,
# then (given a wait) wait until it listens on its port, so that the health check's first
# poll finds it: while it runs, or at most that many tenths of a second (the health check
# judges it either way). Runs after unpack.sh and listening.sh (their functions). Prints
# `port=N` and `unit=NAME`.
# Exit 4: no free port in the range. Any failure takes back what this run installed.
# shellcheck disable=SC2154  # kind, max_bytes and max_files are set by unpack.sh's functions
set -u
name=$1         # the deployment
base=$2         # the base folder (/var/lib/otter)
rel=$3          # the release
art=$4          # the stored artifact
units=$5        # the unit folder (/etc/systemd/system)
user=$6         # the user the unit runs as
mkuser=$7       # 1: make the user when it is missing
envf=$8         # the env file to write from stdin ("": none)
prog=$9         # the program (the command's first word)
shift 9
single=$1       # the name of a single-file artifact in the release folder
lo=$2           # the lowest port to pick
hi=$3           # the highest port to pick
text=$4         # the unit's text, with the line `Environment=PORT=<port>`
limit_bytes=$5  # most bytes an archive unpacks to ("": unpack.sh's default)
limit_files=$6  # most files an archive unpacks to ("": unpack.sh's default)
rec=$7          # the store's record to write first ("": none)
wait=${8:-0}    # tenths of a second to wait for the port to listen after the start (0: none)

dep="$base/$name" unit="otter-$name@$rel.service"
dir="$dep/releases/$rel" stage="$dep/releases/.$rel.otter-tmp" data="$dep/data"
pre="${art%/*}/.unpacked/${art##*/}"  # what the store's receive unpacked, used once
ok=0 installed=0 tmpd="" taken=0

fail() { echo "otter: $*" >&2; exit 1; }

cleanup() {
  [ "$ok" = 1 ] && { rm -rf "$pre" "$tmpd"; return; }
  rm -rf "$pre"
  if [ "$installed" = 1 ]; then
    systemctl disable -q --now -- "$unit" >/dev/null 2>&1
    systemctl reset-failed -- "$unit" >/dev/null 2>&1
    rm -f "$units/$unit"; systemctl daemon-reload
  fi
  rm -rf "$tmpd" "$stage" "$dir"; [ -z "$envf" ] || rm -f "$envf"
}

write_record() {
  [ -n "$rec" ] || return 0
  { mkdir -p "${rec%/*}" && : > "$rec"; } || fail "cannot write $rec"
}

write_env() {
  [ -n "$envf" ] || return 0
  (umask 077; mkdir -p "$(dirname "$envf")" && cat > "$envf.tmp" && mv -f "$envf.tmp" "$envf") \
    || fail "cannot write $envf"
}

check_artifact() {
  [ -f "$art" ] || fail "the artifact $art is not on this host"
  # shellcheck disable=SC2034  # what names the artifact in unpack.sh's messages
  what="the artifact $(printf %.12s "${art##*/}")"
  # shellcheck disable=SC2034  # read by archive_kind: GNU tar is asked only if tar runs here
  [ ! -f "$pre/done" ] || defer_tar=1
  archive_kind "$art"
  set_limits "$art" "$limit_bytes" "$limit_files"
  # unpacked as it arrived (store/receive.sh): the same checks, on what the receive listed
  if unpacked_ok "$pre"; then taken=1; else check_members "$art"; fi
}

ensure_user() {  # sets group: the user's (one `id` when the user is there)
  group=$(id -gn "$user" 2>/dev/null) && return 0
  if [ "$mkuser" = 1 ]; then
    command -v useradd >/dev/null 2>&1 \
      || fail "useradd is not installed: cannot make the user $user"
    useradd --system --no-create-home --home-dir "$data" --shell /usr/sbin/nologin \
      --user-group "$user" || fail "cannot make the user $user"
  fi
  group=$(id -gn "$user" 2>/dev/null) || fail "the user $user does not exist on this host"
}

clear_leftovers() {  # release folders left by runs that were killed
  for d in "$dep"/releases/.*.otter-tmp "$dep"/releases/*; do
    [ -e "$d" ] || continue
    case ${d##*/} in
      .*) rm -rf -- "$d" ;;
      *) [ -e "$units/otter-$name@${d##*/}.service" ] || rm -rf -- "$d" ;;
    esac
  done
}

unpack_release() {
  if [ -e "$stage" ] || [ -e "$dir" ]; then rm -rf "$stage" "$dir"; fi
  mkdir -p "$dep/releases" "$data" || exit 1
  chmod go+x "$base" "$dep" "$dep/releases" || exit 1
  if [ "$taken" != 1 ] || ! mv "$pre/tree" "$stage" 2>/dev/null; then
    [ "$taken" != 1 ] || check_members "$art"  # taken by another start meanwhile
    mkdir -p "$stage" || exit 1
    unpack_into "$art" "$stage" "$single"
  fi
  # one find: the links, and any device file, fifo or socket (the first refuses it)
  find "$stage" \( -type l -o -type b -o -type c -o -type p -o -type s \) -print \
    > "$tmpd/found" || exit 1
  [ -s "$tmpd/found" ] || return 0
  while IFS= read -r f; do
    [ -L "$f" ] || fail "refusing the artifact: ${f#"$stage"/} is a device file, fifo or socket"
  done < "$tmpd/found"
  check_links
}

check_links() {  # no link may point out of the release folder ($tmpd/found: all links)
  real=$(cd "$stage" && pwd -P) || exit 1
  tr '\n' '\0' < "$tmpd/found" | xargs -0 realpath -m -- > "$tmpd/real" || exit 1
  out=$(paste "$tmpd/real" "$tmpd/found" | awk -F '\t' -v r="$real" -v s="$stage" \
    '$1 != r && index($1, r "/") != 1 { print substr($2, length(s) + 2); exit 1 }') \
    || fail "refusing the artifact: member $out is a link out of the release folder"
}

set_permissions() {  # no set-user/group-ID bit (a directory's too), the group may read
  { chgrp -R "$group" "$stage" && chmod -R ug-s,g+rX "$stage" && chmod 750 "$stage"; } || exit 1
  { chown "$user:" "$data" && chmod 750 "$data"; } || exit 1
  [ -n "$envf" ] || return 0
  { chmod go+x "$(dirname "$envf")" && chown "$user:" "$envf" && chmod 400 "$envf"; } || exit 1
}

onpath() {
  IFS=:; for p in $PATH; do
    [ -n "$p" ] && [ -f "$p/$1" ] && [ -x "$p/$1" ] && { unset IFS; echo "$p/$1"; return 0; }
  done; unset IFS; return 1
}

resolve_program() {  # sets exe: what ExecStart runs
  case $prog in
    /*) exe=$prog
        { [ -f "$exe" ] && [ -x "$exe" ]; } \
          || fail "command $prog: no such executable on this host" ;;
    */*) r=${prog#./} exe="$dir/${prog#./}"
        [ -f "$stage/$r" ] || fail "command $prog: the artifact has no file $r"
        [ -x "$stage/$r" ] || fail "command $prog: $r in the artifact is not executable" ;;
    *) if [ -f "$stage/$prog" ]; then
         [ -x "$stage/$prog" ] || fail "command $prog: $prog in the artifact is not executable"
         exe="$dir/$prog"
       else
         exe=$(onpath "$prog") \
           || fail "command $prog: not found in the release nor on PATH ($PATH)"
       fi ;;
  esac
}

claimed() {  # listening now, or promised to another deployment's unit not started yet
  listening
  for f in "$units"/otter-*.service; do
    # this deployment's own: its lock keeps them from starting now, a running one listens,
    # and one recreate stopped gives its port to the new release
    case ${f##*/} in "otter-$name@"* | "otter-*.service") continue ;; esac
    while IFS= read -r l; do  # the shell reads them: no process a unit
      case $l in Environment=PORT=*) echo "${l#Environment=PORT=}" ;; esac
    done < "$f" 2>/dev/null
  done
}

pick_port() {  # sets port
  if command -v flock >/dev/null 2>&1; then  # two starts on this host pick ports in turn
    { exec 9> "$base/.ports.lock" && flock -w 60 9; } || fail "cannot lock $base/.ports.lock"
  fi
  taken=" "
  for p in $(claimed); do taken="$taken$p "; done
  port=$lo
  while [ "$port" -le "$hi" ]; do
    case "$taken" in *" $port "*) port=$((port + 1)) ;; *) break ;; esac
  done
  if [ "$port" -gt "$hi" ]; then echo "otter: no free port on 127.0.0.1 in $lo-$hi" >&2; exit 4; fi
}

write_unit() {  # the unit's text with its port and the program resolved, verified
  printf '%s\n' "$text" | P=$port E=$exe W=$prog T=$tmpd awk '
    $0 == "Environment=PORT=<port>" { $0 = "Environment=PORT=" ENVIRON["P"] }
    ENVIRON["E"] != ENVIRON["W"] && (index($0, "ExecStart=" ENVIRON["W"] " ") == 1 ||
      $0 == "ExecStart=" ENVIRON["W"]) {
      $0 = "ExecStart=" ENVIRON["E"] substr($0, length("ExecStart=" ENVIRON["W"]) + 1) }
    index($0, "WantedBy=") == 1 { print substr($0, 10) > (ENVIRON["T"] "/wanted") }
    { print }' > "$tmpd/$unit" || exit 1
  command -v systemd-analyze >/dev/null 2>&1 || return 0
  # systemd 250 and later: only this unit's own faults, and any of them (a warning too)
  # fails; its dependencies' (other units on the host) are not loaded (a third of the CPU)
  only=""; [ "$sdv" -lt 250 ] || only=--recursive-errors=no
  out=$(cd "$tmpd" && systemd-analyze verify $only "$tmpd/$unit" 2>&1) \
    || fail "the unit $unit does not pass systemd-analyze verify: $out"
}

systemd_version() {  # "systemd 252 (252.22-1~deb12u1)" -> 252; 0 when it cannot tell.
  # Asked once and kept in $base/.systemd-version until systemctl is newer than that file
  # (a test, no process: every start after the first asks nothing)
  k="$base/.systemd-version" v=""
  # shellcheck disable=SC3013  # -nt: dash, bash and busybox sh all have it
  if [ -f "$k" ] && ! [ "$(command -v systemctl)" -nt "$k" ]; then read -r v < "$k"; fi
  case $v in
    "" | *[!0-9]*)
      v=$(systemctl --version 2>/dev/null | sed -n '1s/^systemd \([0-9][0-9]*\).*/\1/p')
      [ -z "$v" ] || printf '%s\n' "$v" > "$k" 2>/dev/null ;;
  esac
  echo "${v:-0}"
}

install_unit() {
  t="$units/.$unit.otter-tmp"
  # 644 as cp makes it under the start's umask 022
  { { [ -d "$units" ] || mkdir -p "$units"; } && cp "$tmpd/$unit" "$t" \
    && mv -f "$t" "$units/$unit"; } || fail "cannot write $units/$unit"
  installed=1
  # systemd 246 and later load a unit file they have not seen (or saw missing) when it is
  # started, older ones need the reload
  if [ "$sdv" -lt 246 ]; then
    systemctl daemon-reload || fail "systemctl daemon-reload failed"
  fi
  if ! systemctl start -- "$unit"; then
    journalctl -u "$unit" -n 20 --no-pager -q -o cat >&2
    fail "systemctl start $unit failed"
  fi
  enable_unit
}

enable_unit() {  # enabled on disk as `systemctl enable --no-reload` does it (its WantedBy=
  # symlinks; the unit has no Alias= nor Also=), while the service starts up (Type=exec:
  # started is exec'd, rarely listening yet); no systemctl process
  [ -f "$tmpd/wanted" ] || return 0
  while read -r line; do
    for w in $line; do
      if ! { { [ -d "$units/$w.wants" ] || mkdir -p "$units/$w.wants"; } \
        && ln -sf "$units/$unit" "$units/$w.wants/$unit"; }; then
        fail "cannot enable $unit in $units/$w.wants"
      fi
    done
  done < "$tmpd/wanted"
}

wait_listening() {  # polls every 20 ms, at most $wait tenths, while the unit runs
  n=$((wait * 5)) i=0
  while [ "$i" -lt "$n" ]; do
    listens "$port" && return 0
    if [ $((i % 5)) = 4 ]; then  # exited, failed or waiting to restart: the health check says
      case $(systemctl show -p SubState --value -- "$unit" 2>/dev/null) in
        running|start|start-pre|start-post) ;;
        *) return 0 ;;
      esac
    fi
    sleep 0.02 2>/dev/null || return 0  # a sleep of whole seconds only: do not wait
    i=$((i + 1))
  done
}

trap cleanup EXIT
trap 'exit 1' HUP INT TERM
write_record
write_env
tmpd=$(mktemp -d) || exit 1
check_artifact
ensure_user
umask 022
clear_leftovers
unpack_release
set_permissions
resolve_program
mv "$stage" "$dir" || exit 1
pick_port
sdv=$(systemd_version)  # systemd's version
write_unit
install_unit
wait_listening
ok=1
echo "port=$port"
echo "unit=$unit"

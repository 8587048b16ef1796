# The chosen reverse proxy present and running, installed with apt if missing; refused where
# another proxy holds ports 80/443, unless that proxy serves this deployment and nothing else
# (a proxy kind change: installed, left stopped, the switch hands the ports over).
# What it did goes to stderr ("otter: installed caddy").
# Exit 7: the proxy cannot be had here; stderr says why, naming it. Runs after unit-runs.sh
# (its function).
p=$1        # the proxy's systemd unit (also its process name on ports 80/443)
pkg=$2      # its Debian package
module=$3   # a package its switch without reload needs (nginx: njs), or ""
bin=$4      # its binary, on PATH once installed
rivals=$5   # the units of other web servers that may hold 80/443, space-separated
shift 5
# then triples: another proxy kind's unit, its site file of this deployment, and a shell line
# that prints what else that proxy serves here (one line each, nothing when only this site)
fail=7
opts="-y -q -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold"

# apt_install PKG [apt-get options]: output kept in $out for the caller's message
apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then apt-get update -q >/dev/null 2>&1; fi
  # shellcheck disable=SC2086  # $opts is a list of apt-get options, split on purpose
  out=$(apt-get install $opts "$@" 2>&1) && return 0
  first=$out  # said when the retry after an update says nothing
  # shellcheck disable=SC2086  # $opts is a list of apt-get options, split on purpose
  out=$(apt-get update -q 2>&1 && apt-get install $opts "$@" 2>&1) && return 0
  [ -n "$out" ] || out=$first
  return 1
}

# one proxy owns 80/443: whoever listens there (ss names the process) must be ours
owner=""
if command -v ss >/dev/null 2>&1; then  # the first process not $p (one awk, no pipeline)
  owner=$(ss -Hltnp 2>/dev/null | awk -v p="$p" '$4 ~ /:(80|443)$/ {
    if (match($NF, /users:\(\("[^"]*"/)) { n = substr($NF, RSTART + 9, RLENGTH - 10)
      if (n != p) { print n; exit } } }')
fi
# $rivals: unit names from otter's own table, split on spaces
for other in $rivals; do
  [ "$other" = "$p" ] || [ -n "$owner" ] && continue
  if unit_runs "$other"; then owner=$other; fi
done
# the owner serves this deployment (its proxy kind changed): it may hand over if that is all
from=""
while [ -n "$owner" ] && [ $# -ge 3 ]; do
  if [ "$1" = "$owner" ] && [ -f "$2" ]; then
    if ! more=$(sh -c "$3" 2>&1); then
      echo "otter: $owner serves this deployment, but what else it serves cannot be read:" >&2
      printf '%s\n' "$more" | tail -n 3 >&2
      exit "$fail"
    fi
    if [ -n "$more" ]; then
      echo "otter: $owner serves this deployment and more, so it cannot hand ports 80/443" \
           "over to $p; nothing was changed. $owner also serves:" >&2
      printf '%s\n' "$more" | head -n 5 | sed 's/^/  /' >&2
      echo "otter: move those to $p as well, or keep $owner as this deployment's proxy" >&2
      exit "$fail"
    fi
    from=$owner
  fi
  shift 3
done
if [ -n "$owner" ] && [ -z "$from" ]; then
  echo "otter: $owner is running here and owns ports 80/443, so $p cannot serve;" \
       "stop $owner (systemctl disable --now $owner) or choose $owner as the proxy" >&2
  exit "$fail"
fi
if ! command -v "$bin" >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "otter: $p is not installed and this host has no apt-get; install $pkg there" >&2
    exit "$fail"
  fi
  if ! apt_install "$pkg"; then
    echo "otter: installing $pkg with apt-get failed:" >&2
    printf '%s\n' "$out" | tail -n 5 >&2
    exit "$fail"
  fi
  echo "otter: installed $pkg" >&2
fi
# the module is optional: without it the proxy switches by reload (the switch probe says so)
if [ -n "$module" ] && command -v dpkg-query >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 &&
   ! dpkg-query -W -f '${Status}' "$module" 2>/dev/null | grep -q ' installed$'; then
  # --no-remove: never trade the installed proxy for another build to get the module
  if apt_install --no-remove "$module"; then
    echo "otter: installed $module ($p switches releases without a reload)" >&2
  else
    echo "otter: installing $module with apt-get failed, so $p switches by reload here:" \
         "$(printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1)" >&2
  fi
fi
if [ -n "$from" ]; then
  # $from serves until the switch stops it and starts $p: $p must not race it at boot
  systemctl disable -q "$p" >/dev/null 2>&1; systemctl reset-failed "$p" >/dev/null 2>&1
  echo "otter: handover: $from serves until the switch, then $p takes ports 80/443 over" >&2
  exit 0
fi
if ! unit_runs "$p"; then
  if ! out=$(systemctl enable --now "$p" 2>&1); then
    echo "otter: $p is installed but does not start:" >&2
    printf '%s\n' "$out" | tail -n 3 >&2
    journalctl -u "$p" -n 5 --no-pager >&2 2>/dev/null
    exit "$fail"
  fi
  echo "otter: started $p" >&2
fi
exit 0

# A deployment's proxy kind changed: hand ports 80/443 from the proxy that serves it now to
# the new one with the shortest gap. The old proxy is asked to stop (it closes its listening
# sockets first, then finishes the requests in flight); as soon as the new proxy's ports are
# free, its switch installs the site, validates and starts it. When the switch fails, the
# old proxy starts again with its config untouched. Then the new proxy starts at boot, the
# old one does not, and the old proxies' sites of the deployment are removed.
# $1 the old proxy that runs ("": none runs, only its site goes), $2 the new proxy, $3 the
# ports the new one listens on (space separated), $4 a shell line removing the old sites,
# $5 a shell line validating the new proxy's config as it is; the rest: the new proxy's
# switch (argv), which reads this script's stdin.
old=$1 new=$2 ports=$3 forget=$4 check=$5
shift 5
trap '' HUP  # a lost connection must not stop the handover half way
if [ -n "$old" ] && ! out=$(sh -c "$check" 2>&1 </dev/null); then
  echo "otter: $new's own config does not load, so $old keeps serving; nothing was" \
       "changed:" >&2
  printf '%s\n' "$out" | tail -n 5 >&2
  exit 4
fi
busy() {  # a port still listened on; without ss: the old proxy not yet stopped
  if command -v ss >/dev/null 2>&1; then
    for p in $ports; do
      [ -z "$(ss -Hltn "sport = :$p" 2>/dev/null)" ] || return 0
    done
    return 1
  fi
  systemctl is-active --quiet "$old"
}
if [ -n "$old" ]; then
  if ! out=$(systemctl stop --no-block "$old" 2>&1); then
    echo "otter: systemctl stop $old failed; nothing was changed: $out" >&2
    exit 1
  fi
  i=0  # bounded: 10 s; a port still taken then makes the switch fail, and $old comes back
  while busy && [ "$i" -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
fi
"$@"
rc=$?
if [ "$rc" != 0 ]; then
  if [ -n "$old" ]; then
    if systemctl start "$old"; then
      echo "otter: $new did not take over; $old serves as before" >&2
    else
      echo "otter: $new did not take over, and $old does not start again" >&2
    fi
  fi
  exit "$rc"
fi
[ -z "$old" ] || systemctl disable -q "$old" >/dev/null 2>&1
systemctl enable -q "$new" >/dev/null 2>&1
if ! out=$(sh -c "$forget" 2>&1); then
  echo "otter: warning: $new serves, but removing the old site failed: $out" >&2
fi
exit 0

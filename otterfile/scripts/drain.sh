# Wait until nothing is in flight to a release that no longer takes traffic: no established
# TCP connection on this host with PORT as its local port (the release's side, whatever the
# address: other targets' proxies reach it under balance="fleet") or to 127.0.0.1:PORT (this
# host's proxy), read from /proc/net/tcp and tcp6 (release ports are never ephemeral ones),
# polled every 0.1 s, for at most SECONDS. Prints one
# line: `otter-drain port=PORT seconds=WAITED left=N` (N: connections still open when the
# bound was reached; 0: drained). Where /proc/net/tcp cannot be read it waits SECONDS.
port=$1     # the old release's port on 127.0.0.1
limit=$2    # drain_seconds: the longest wait

now() { read -r up _ < /proc/uptime && echo "$up"; }

# established connections from PORT, or to 127.0.0.1:PORT (or ::ffff:127.0.0.1:PORT)
open_count() {
  awk -v p="$(printf '%04X' "$port")" '
    FNR > 1 && $4 == "01" {
      n = split($2, l, ":"); m = split($3, r, ":")
      if (l[n] == p || (r[m] == p && r[1] ~ /0100007F$/)) c++
    }
    END { print c + 0 }' /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

if ! [ -r /proc/net/tcp ] || ! [ -r /proc/uptime ]; then
  sleep "$limit"
  echo "otter-drain port=$port seconds=$limit left=unknown"
  exit 0
fi
start=$(now)
# bounded by the clock and, should the clock stall, by a count (at least 0.1 s a poll)
most=$(awk -v s="$limit" 'BEGIN { print int(s * 10) + 1 }')
polls=0 left=$(open_count)
while [ "$left" != 0 ] && [ "$polls" -lt "$most" ]; do
  awk -v a="$start" -v b="$(now)" -v s="$limit" 'BEGIN { exit !(b - a < s) }' || break
  sleep 0.1
  polls=$((polls + 1))
  left=$(open_count)
done
awk -v a="$start" -v b="$(now)" -v p="$port" -v n="$left" \
  'BEGIN { printf "otter-drain port=%s seconds=%.2f left=%s\n", p, b - a, n }'

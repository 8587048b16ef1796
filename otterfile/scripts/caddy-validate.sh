# Validate Caddy's config with a throwaway data folder, as the switch does (`tls internal`
# makes a CA there); on failure its last lines (not the JSON log) go to stderr.
config=$1   # the Caddyfile
v=$(mktemp -d) || exit 1
HOME=$v XDG_DATA_HOME=$v XDG_CONFIG_HOME=$v \
  caddy validate --config "$config" --adapter caddyfile >"$v/out" 2>&1
rc=$?
[ "$rc" = 0 ] || grep -v "^{" "$v/out" | tail -n 5 >&2
rm -rf "$v"; exit "$rc"

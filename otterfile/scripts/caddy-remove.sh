# Take a deployment's site off Caddy and reload it when it runs (other sites untouched).
# Exit 5: the reload failed.
dir=$1      # Caddy's folder (/etc/caddy)
name=$2     # the deployment
main="$dir/Caddyfile" sites="$dir/otter.d"
site="$sites/$name.caddy" bak="$sites/.$name.caddy.bak" pending="$sites/.$name.pending"
[ -f "$site" ] || { echo "no site file for $name"; exit 0; }
# as switch does: a reload must not load another deployment's half-made switch
exec 9>"$sites/.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
# the site held :80: the distribution's default site that its switch set aside comes back
if grep -q '^:80 {' "$site" && grep -q '^# otter: ' "$main" 2>/dev/null; then
  sed 's/^# otter: //' "$main" > "$main.otter-tmp" && mv -f "$main.otter-tmp" "$main" || exit 1
  echo "restored Caddy's default :80 site in $main"
fi
rm -f "$site" "$bak" "$pending" || exit 1
if command -v caddy >/dev/null 2>&1 && systemctl is-active --quiet caddy; then
  systemctl reload caddy || exit 5
fi
echo "removed $name"

# Take a deployment's site (and its njs file and TLS files) off nginx; reload when it runs.
# Exit 4: the rest of the config is invalid, not reloaded; 5: the reload failed.
dir=$1      # nginx's folder (/etc/nginx)
name=$2     # the deployment
conf="$dir/conf.d" default="$dir/sites-enabled/default"
site="$conf/otter-$name.conf" js="$conf/otter-$name.js"
[ -f "$site" ] || { echo "no site file for $name"; exit 0; }
# as switch does: a reload must not load another deployment's half-made switch
exec 9>"$conf/.otter.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
# the site held :80: the distribution's default site that its switch set aside comes back
if grep -q 'listen 80 default_server;' "$site" && [ ! -e "$default" ] && [ ! -L "$default" ] \
   && [ -f "$dir/sites-available/default" ] && [ -d "$dir/sites-enabled" ]; then
  ln -s "$dir/sites-available/default" "$default" && echo "restored nginx's default site"
fi
rm -f "$site" "$js" "$conf/.otter-$name.conf.bak" "$conf/.otter-$name.js.bak" \
  "$conf/.otter-$name.pending" || exit 1
rm -rf "$dir/otter-tls/$name" || exit 1
if command -v nginx >/dev/null 2>&1 && systemctl is-active --quiet nginx; then
  # the site is gone either way; a config broken elsewhere must not be reloaded
  if ! out=$(nginx -t 2>&1); then
    echo "otter: removed $name, but nginx rejects the remaining config; not reloaded:" >&2
    printf '%s\n' "$out" | tail -n 5 >&2
    exit 4
  fi
  reload_wait nginx || exit 5  # reload.sh: returns once the new config serves
fi
echo "removed $name"

# Point Caddy at a deployment's live release. The site file reads the live port per request
# from the upstream folder, so a new release is one rename there and no reload; the site is
# installed and reloaded only when its text changed (first deploy, domains, TLS), and
# validated when that reload fails. Any failure puts the previous site, main Caddyfile and
# port file back.
# Exit 3: Caddy is not installed; 4: the config is rejected; 5: reload or start failed.
# Runs after upstream.sh and unit-runs.sh (their functions).
dir=$1      # Caddy's folder (/etc/caddy)
name=$2     # the deployment
port=$3     # a no-domain site's listen port, or ""
updir=$4    # the upstream folder that holds the port file
live=$5     # the live release's port on 127.0.0.1; "": only install a site not there yet
            # (a first deploy, while its release starts: no port file, it answers 502)
# stdin: the site file
main="$dir/Caddyfile" sites="$dir/otter.d"
site="$sites/$name.caddy" bak="$sites/.$name.caddy.bak" tmp="$sites/.$name.caddy.tmp"
mbak="$sites/.Caddyfile.otter-bak" line="import $sites/*.caddy"
# present while a site is installed but not yet loaded: a run killed then leaves it
pending="$sites/.$name.pending"

# The distribution's `:80` site (Debian's: root * /usr/share/caddy, file_server), commented
# out; exit 1 when the main Caddyfile has no such block. Any other :80 block stays.
aside_default() {
  awk 'inb { buf = buf "\n" $0; t = $0; sub(/^[ \t]+/, "", t); sub(/[ \t\r]+$/, "", t)
             if (t == "}") { inb = 0
               if (n == 2 && ok == 2) { gsub(/\n/, "\n# otter: ", buf); print "# otter: " buf
                                        found = 1 } else print buf
               next }
             if (t != "" && substr(t, 1, 1) != "#") { n++
               if (t == "root * /usr/share/caddy" || t == "file_server") ok++ }
             next }
       /^:80[ \t]*\{[ \t]*$/ { inb = 1; buf = $0; n = 0; ok = 0; next }
       { print }
       END { if (inb) print buf; exit !found }' "$main"
}

imports() {
  awk -v l="$line" '{sub(/^[ \t]+/, ""); sub(/[ \t\r]+$/, "")} $0 == l {f = 1}
                    END {exit !f}' "$main" 2>/dev/null
}

# After a failed reload or start: when the config changed and `caddy validate` rejects it,
# say so, put the previous config back and exit 4. Not asked before the reload: Caddy
# loads a config whole or keeps the one it runs (and a start with a rejected one fails).
rejected() {
  [ "$changed" = 1 ] || return 0
  # a throwaway data folder: validating `tls internal` makes a CA there, not in root's home
  v=$(mktemp -d 2>/dev/null) || { v=/tmp/otter-caddy-validate.$$; mkdir -m 700 "$v" || return 0; }
  why=$(HOME=$v XDG_DATA_HOME=$v XDG_CONFIG_HOME=$v \
        caddy validate --config "$main" --adapter caddyfile 2>&1) && { rm -rf "$v"; return 0; }
  rm -rf "$v"
  restore
  echo "otter: Caddy rejected the new config of $name; the previous config is back:" >&2
  printf '%s\n' "$why" | grep -v '^{' | tail -n 5 >&2
  exit 4
}

if ! command -v caddy >/dev/null 2>&1; then
  echo "otter: Caddy is not installed on this host (no caddy on PATH)" >&2; exit 3
fi
umask 022
[ -d "$sites" ] || mkdir -p "$sites" || exit 1
# one switch at a time per host: two deployments must not both add the import line
exec 9>"$sites/.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
cat > "$tmp" || { rm -f "$tmp"; exit 1; }
if [ -z "$live" ] && [ -e "$site" ]; then
  rm -f "$tmp"; echo "the site of $name is there already: the switch installs it"; exit 0
fi
had=0 main_had=0 main_changed=0 changed=0 was_pending=0
[ -e "$pending" ] && was_pending=1
if [ "$was_pending" = 1 ] || ! cmp -s "$tmp" "$site" || ! imports; then changed=1; fi
restore() {
  upstream_restore
  [ "$changed" = 1 ] || return 0
  if [ "$had" = 1 ]; then mv -f "$bak" "$site"; else rm -f "$site"; fi
  if [ "$main_changed" = 1 ]; then
    if [ "$main_had" = 1 ]; then mv -f "$mbak" "$main"; else rm -f "$main"; fi
  fi
  [ "$was_pending" = 1 ] || rm -f "$pending"
}
if [ "$changed" = 1 ]; then
  : > "$pending" || exit 1
  if [ -f "$site" ]; then cp -p "$site" "$bak" || exit 1; had=1; fi
  [ -f "$main" ] && main_had=1
  if ! imports; then
    if [ "$main_had" = 1 ]; then cp -p "$main" "$mbak" || exit 1; fi
    main_changed=1 gap=""
    if [ -s "$main" ] && [ -n "$(tail -c 1 "$main")" ]; then gap="\n"; fi
    printf "$gap%s\n" "$line" >> "$main" || { restore; exit 1; }
  fi
  # a no-domain site on :80 takes the port from the distribution's placeholder site
  if [ "$port" = 80 ] && [ -f "$main" ] && aside=$(aside_default); then
    if [ "$main_changed" = 0 ]; then cp -p "$main" "$mbak" || exit 1; main_changed=1; fi
    printf '%s\n' "$aside" > "$main" || { restore; exit 1; }
    echo "set aside Caddy's default :80 site in $main (commented out)"
  fi
  mv -f "$tmp" "$site" || { restore; exit 1; }
else
  rm -f "$tmp"
fi
if [ -n "$live" ] && ! upstream_set "$updir" "$live"; then
  restore; echo "otter: cannot write the port file in $updir" >&2; exit 1
fi
verb=""
if ! unit_runs caddy; then verb=start; elif [ "$changed" = 1 ]; then verb=reload; fi
if [ -n "$verb" ] && ! out=$(systemctl "$verb" caddy 2>&1); then
  rejected  # the config, not Caddy: exit 4
  restore
  echo "otter: systemctl $verb caddy failed; the previous config and port file are back:" >&2
  printf '%s\n' "$out" >&2
  journalctl -u caddy -n 5 --no-pager >&2 2>/dev/null
  exit 5
fi
[ "$changed" = 0 ] || rm -f "$bak" "$mbak" "$pending"  # made only for a change
[ "$verb" != start ] || echo "started caddy: it was not running"
if [ -n "$live" ]; then
  echo "switched $name to 127.0.0.1:$live (${verb:-no reload})"
else
  echo "installed the site of $name, no release named yet (${verb:-no reload})"
fi

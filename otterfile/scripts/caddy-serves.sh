# What Caddy serves on this host besides one deployment's site, one line each: other sites of
# otter (otter.d/*.caddy) and every site or import of the main Caddyfile except otter's import
# line, global options, snippets and the distribution's `:80` placeholder (root
# /usr/share/caddy, file_server). Prints nothing when that deployment is all it serves.
# Read-only.
dir=$1 name=$2
main="$dir/Caddyfile" sites="$dir/otter.d"
for f in "$sites"/*.caddy; do
  [ -f "$f" ] || continue
  n=${f##*/}; n=${n%.caddy}
  [ "$n" = "$name" ] || echo "otter's site of $n ($f)"
done
[ -f "$main" ] || exit 0
awk -v ours="import $sites/*.caddy" -v f="$main" '
  function trim(s) { sub(/^[ \t]+/, "", s); sub(/[ \t\r]+$/, "", s); return s }
  function done() {
    placeholder = (addr == ":80" && n == 2 && ok == 2)
    if (!placeholder && addr != "" && addr !~ /^&?\(.*\)$/) print f " line " at ": " head
  }
  { t = trim($0) }
  t == "" || substr(t, 1, 1) == "#" { next }
  depth == 0 && t == ours { next }
  depth == 0 && t !~ /\{$/ { print f " line " NR ": " t; next }
  depth == 0 { head = t; at = NR; addr = trim(substr(t, 1, length(t) - 1)); n = 0; ok = 0
               depth = 1; next }
  {
    if (depth == 1 && t != "}") {
      n++; if (t == "root * /usr/share/caddy" || t == "file_server") ok++
    }
    if (t ~ /\{$/) depth++
    if (t == "}" && --depth == 0) done()
  }
  END { if (depth > 0) print f " line " at ": " head " (not closed)" }' "$main"

# What nginx serves on this host besides one deployment's site, one line each: every config
# file nginx loads that holds a server block, except that deployment's site and the
# distribution's untouched default site. Prints nothing when that deployment is all it
# serves; exit 1 when nginx cannot read its config. Read-only.
dir=$1 name=$2
ours="$dir/conf.d/otter-$name.conf"
if ! all=$(nginx -T 2>&1); then
  printf '%s\n' "$all" | tail -n 3 >&2
  exit 1
fi
# Debian's sites-available/default without its comments, one line each, joined by "|"
# shellcheck disable=SC2016  # $uri is nginx text, not the shell's
placeholder='server {|listen 80 default_server;|listen [::]:80 default_server;'\
'|root /var/www/html;|index index.html index.htm index.nginx-debian.html;|server_name _;'\
'|location / {|try_files $uri $uri/ =404;|}|}'
printf '%s\n' "$all" | awk -v ours="$ours" -v placeholder="$placeholder" -v dir="$dir" '
  function done() {
    if (file == "" || !served || file == ours) return
    if ((file == dir "/sites-enabled/default" || file == dir "/sites-available/default") &&
        text == placeholder) return
    if (match(file, /\/conf\.d\/otter-.*\.conf$/)) {
      n = substr(file, RSTART + 14); sub(/\.conf$/, "", n)
      print "otter'"'"'s site of " n " (" file ")"
    } else print file
  }
  /^# configuration file .*:$/ { done(); file = substr($0, 22, length($0) - 22); served = 0
                                 text = ""; next }
  { t = $0; sub(/^[ \t]+/, "", t); sub(/[ \t\r]+$/, "", t) }
  t == "" || substr(t, 1, 1) == "#" { next }
  { text = text == "" ? t : text "|" t }
  t ~ /^server[ \t]*\{/ || t == "server" { served = 1 }
  END { done() }'

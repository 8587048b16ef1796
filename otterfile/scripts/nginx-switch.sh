# Point nginx at a deployment's live release. With njs the site reads the live port per
# request from the upstream folder (otter-NAME.js beside the site), so a new release is one
# rename there and no reload; the site (and its TLS files) is installed, checked and reloaded
# only when its text changed. A site without njs names the port itself: every switch reloads.
# Any failure puts the previous site, its files and the port file back. Backups and temp
# files do not end in .conf, so nginx's `include conf.d/*.conf` never loads them.
# Exit 3: nginx is not installed; 4: the config is rejected or not included; 5: reload or
# start failed. Runs after upstream.sh, reload.sh and unit-runs.sh (their
# functions).
dir=$1      # nginx's folder (/etc/nginx)
name=$2     # the deployment
port=$3     # a no-domain site's listen port, or ""
updir=$4    # the upstream folder that holds the port file
live=$5     # the live release's port on 127.0.0.1
# stdin: the site file, then optional parts ("--- otter:part cert", "--- otter:part key")
conf="$dir/conf.d" tdir="$dir/otter-tls/$name" default="$dir/sites-enabled/default"
site="$conf/otter-$name.conf" bak="$conf/.otter-$name.conf.bak"
js="$conf/otter-$name.js" jsbak="$conf/.otter-$name.js.bak"
# present while a site is installed but not yet loaded: a run killed then leaves it
pending="$conf/.otter-$name.pending"

# What the site's js_set runs per request: the first port file of the folder the site names
# in $otter_upstream_dir, as 127.0.0.1:PORT; "" (the site answers 502) when there is none.
write_js() {
  cat <<'JS'
// Managed by otter: the live release's port, read per request from the upstream folder.
var fs = require('fs');

function upstream(r) {
    var names;
    try {
        names = fs.readdirSync(r.variables.otter_upstream_dir);
    } catch (e) {
        return '';
    }
    names = names.filter(function (n) { return /^[0-9]{1,5}$/.test(n); }).sort();
    return names.length ? '127.0.0.1:' + names[0] : '';
}

// strategy="recreate": a request nginx could not pass on (nothing listens while the release
// is swapped) waits until the live port answers, then is passed on again; 502 after
// $otter_hold_seconds. One other than GET or HEAD that reached a release is not sent twice.
async function hold(r) {
    var until = Date.now() + 1000 * Number(r.variables.otter_hold_seconds);
    var sent = (r.variables.upstream_bytes_sent || '').split(/[ ,:]+/).some(function (n) {
        return Number(n) > 0;
    });
    if (sent && r.method !== 'GET' && r.method !== 'HEAD') {
        r.return(502, 'otter: the release closed the connection before it answered\n');
        return;
    }
    while (Date.now() < until) {
        await new Promise(function (done) { setTimeout(done, 100); });
        var to = upstream(r);
        if (!to) continue;
        try {
            await ngx.fetch('http://' + to + '/', {method: 'HEAD'});
        } catch (e) {
            continue;
        }
        r.internalRedirect(r.variables.otter_hold_retry);
        return;
    }
    r.return(502, 'otter: no release answered within ' + r.variables.otter_hold_seconds +
             's\n');
}

export default {upstream, hold};
JS
}

if ! command -v nginx >/dev/null 2>&1; then
  echo "otter: nginx is not installed on this host (no nginx on PATH)" >&2; exit 3
fi
umask 077
work=$(mktemp -d) || exit 1
trap 'rm -rf "$work"' EXIT
awk -v d="$work" 'BEGIN {out = d "/site"} /^--- otter:part (cert|key)$/ {close(out);
  out = d "/" $3; next} {print > out}' || exit 1
write_js > "$work/js" || exit 1
umask 022
[ -d "$conf" ] || mkdir -p "$conf" || exit 1
# one switch at a time per host: `nginx -t` must not see another deployment's half switch
exec 9>"$conf/.otter.lock"; command -v flock >/dev/null 2>&1 && flock -w 60 9
had=0 hadjs=0 tls=0 aside="" changed=0 was_pending=0
[ -f "$work/cert" ] && [ -f "$work/key" ] && tls=1
[ -e "$pending" ] && was_pending=1
if [ "$was_pending" = 1 ] || ! cmp -s "$work/site" "$site" || ! cmp -s "$work/js" "$js" ||
   { [ "$tls" = 1 ] && { ! cmp -s "$work/cert" "$tdir/cert.pem" ||
                         ! cmp -s "$work/key" "$tdir/key.pem"; }; }; then
  changed=1
fi
restore() {
  upstream_restore
  [ "$changed" = 1 ] || return 0
  if [ "$had" = 1 ]; then mv -f "$bak" "$site"; else rm -f "$site"; fi
  if [ "$hadjs" = 1 ]; then mv -f "$jsbak" "$js"; else rm -f "$js"; fi
  if [ "$tls" = 1 ]; then
    for f in cert key; do
      if [ -f "$tdir/.$f.pem.bak" ]; then mv -f "$tdir/.$f.pem.bak" "$tdir/$f.pem"
      else rm -f "$tdir/$f.pem"; fi
    done
  fi
  [ -z "$aside" ] || ln -s "$aside" "$default"
  [ "$was_pending" = 1 ] || rm -f "$pending"
}
if [ "$changed" = 1 ]; then
  : > "$pending" || exit 1
  if [ -f "$site" ]; then cp -p "$site" "$bak" || exit 1; had=1; fi
  if [ -f "$js" ]; then cp -p "$js" "$jsbak" || { restore; exit 1; }; hadjs=1; fi
  if [ "$tls" = 1 ]; then
    if ! { mkdir -p "$tdir" && chmod 700 "$tdir"; }; then restore; exit 1; fi
    for f in cert key; do
      [ ! -f "$tdir/$f.pem" ] || cp -p "$tdir/$f.pem" "$tdir/.$f.pem.bak" || { restore; exit 1; }
    done
    # the key is root's alone; nginx's master process reads both before it drops privileges
    if ! { install -m 644 "$work/cert" "$tdir/cert.pem" &&
           install -m 600 "$work/key" "$tdir/key.pem"; }; then restore; exit 1; fi
  fi
  # a no-domain site on port 80 takes it from the distribution's default site (Debian's
  # `default` is default_server there); only that link is set aside, any other site stays
  if [ "$port" = 80 ] && [ -L "$default" ]; then
    case $(readlink "$default") in
      */sites-available/default) aside=$(readlink "$default"); rm -f "$default" || exit 1
        echo "set aside nginx's default site ($default -> $aside)" ;;
    esac
  fi
  if ! { chmod 644 "$work/site" "$work/js" && mv -f "$work/js" "$js" &&
         mv -f "$work/site" "$site"; }; then restore; exit 1; fi
  if ! out=$(nginx -t 2>&1); then
    restore
    echo "otter: nginx rejected the new config of $name; the previous config is back:" >&2
    printf '%s\n' "$out" | tail -n 5 >&2
    exit 4
  fi
  # a valid config that never loads our file would "switch" to nothing
  if ! nginx -T 2>/dev/null | grep -qF "# configuration file $site:"; then
    restore
    echo "otter: the main nginx.conf does not include $conf/*.conf, so nginx would not" \
         "serve $name; add \`include $conf/*.conf;\` inside its http block" >&2
    exit 4
  fi
fi
if ! upstream_set "$updir" "$live"; then
  restore; echo "otter: cannot write the port file in $updir" >&2; exit 1
fi
verb=""
if ! unit_runs nginx; then verb=start; elif [ "$changed" = 1 ]; then verb=reload; fi
if [ "$verb" = reload ]; then  # reload.sh: returns once the new config serves
  out=$(reload_wait nginx 2>&1) || failed=1
elif [ "$verb" = start ]; then
  out=$(systemctl start nginx 2>&1) || failed=1
fi
if [ -n "${failed:-}" ]; then
  restore
  echo "otter: systemctl $verb nginx failed; the previous config and port file are back:" >&2
  printf '%s\n' "$out" >&2
  journalctl -u nginx -n 5 --no-pager >&2 2>/dev/null
  exit 5
fi
[ "$changed" = 0 ] || rm -f "$bak" "$jsbak" "$tdir/.cert.pem.bak" "$tdir/.key.pem.bak" "$pending"  # made only for a change
[ "$verb" != start ] || echo "started nginx: it was not running"
echo "switched $name to 127.0.0.1:$live (${verb:-no reload})"

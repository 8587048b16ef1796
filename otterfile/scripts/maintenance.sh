# Maintenance mode on or off for one deployment (proxies/maintenance.py): the flag folder
# written or removed, the proxy's config checked and gracefully reloaded when it runs. The
# site file pulls the page in from the flag folder, so nothing else changes: no release,
# no port file. Any failure puts the previous flag back.
# Exit 4: the config is rejected; 5: the reload failed; 6: the installed site does not
# include the page (written by an otter before maintenance mode).
flag=$1     # the flag folder (/var/lib/otter/NAME/maintenance)
mode=$2     # on | off
site=$3     # the proxy's installed site file of the deployment ("" or absent: none yet)
check=$4    # shell line: validate the proxy's whole config
unit=$5     # the proxy's systemd unit
# stdin (on): parts "--- otter:part NAME" then its text: message, then a snippet per kind
old="$flag.old" new="$flag.new"
umask 022
# the proxy's user (caddy, www-data) reads the page through the two folders above it
mkdir -p "${flag%/*}" && chmod a+x "${flag%/*}" "${flag%/*/*}" || exit 1
rm -rf "$old" "$new" || exit 1
if [ "$mode" = on ]; then
  mkdir -m 755 "$new" || exit 1
  awk -v d="$new" '/^--- otter:part [a-z]+$/ {if (out) close(out); out = d "/" $3; next}
                   out {print > out}' || { rm -rf "$new"; exit 1; }
fi
restore() {
  rm -rf "$flag"
  [ ! -d "$old" ] || mv -f "$old" "$flag"
}
[ ! -d "$flag" ] || mv -f "$flag" "$old" || exit 1
if [ -d "$new" ]; then mv -f "$new" "$flag" || { restore; exit 1; }; fi
if [ -z "$site" ] || [ ! -f "$site" ]; then
  rm -rf "$old"; echo "maintenance $mode (no site here yet: the first deploy serves it)"
  exit 0
fi
if [ "$mode" = on ] && ! grep -qF "$flag/" "$site"; then
  restore
  echo "otter: $site does not include the maintenance page (an older otter wrote it)" >&2
  exit 6
fi
if ! out=$(sh -c "$check" 2>&1); then
  restore
  echo "otter: the proxy rejected the config with the maintenance page; the previous is back:" >&2
  printf '%s\n' "$out" | tail -n 5 >&2
  exit 4
fi
verb="no reload: $unit is not running"
if systemctl is-active --quiet "$unit"; then
  if ! out=$(reload_wait "$unit" 2>&1); then  # reload.sh: returns once the new config serves
    restore
    sh -c "$check" >/dev/null 2>&1 && systemctl reload "$unit" >/dev/null 2>&1
    echo "otter: systemctl reload $unit failed; the previous flag is back:" >&2
    printf '%s\n' "$out" >&2
    exit 5
  fi
  verb="reloaded $unit"
fi
rm -rf "$old"
echo "maintenance $mode ($verb)"

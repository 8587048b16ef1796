# Leave a rollback to the kept release ready (run/back.py): the folder BACK gets `a`, the
# kit of the switch back to it, `b`, the kit of the way back again, and `cur`, which names
# the current one (`a`; window/back.sh names the other after using it). Each kit is three
# files window/back.sh reads: `vars` (shell assignments it sources; sent gzipped, in
# base64), `before` (the releases.json it was made for) and `site` (the proxy's site, the
# switch's stdin). Written beside and renamed into place: a kit is whole or absent. A kit
# that cannot be written only costs the next rollback its one-trip way.
back=$1  # the kit folder (<state dir>/back); then VARS BEFORE SITE of a, then of b
new="$back.new.$$"
rm -rf -- "$new" "$back"
write() {  # write DIR VARS BEFORE SITE (VARS gzipped, then base64)
  mkdir -p "$1" && printf '%s' "$2" | base64 -d | gzip -dc > "$1/vars" &&
    printf '%s' "$3" > "$1/before" && printf '%s' "$4" > "$1/site"
}
if (umask 077; write "$new/a" "$2" "$3" "$4" && write "$new/b" "$5" "$6" "$7" &&
    echo a > "$new/cur") && mv -- "$new" "$back"; then
  exit 0
fi
rm -rf -- "$new"
echo "otter: the switch back could not be left ready: a rollback takes two trips" >&2
exit 0

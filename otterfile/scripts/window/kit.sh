# Leave a rollback to the kept release ready (run/back.py): the folder BACK gets `cur`, the
# kit of the switch back to it, and `rev`, the kit of the way back again, each made of the
# files window/back.sh reads. Written beside and renamed into place: a kit is whole or
# absent. A kit that cannot be written only costs the next rollback its one-trip way.
back=$1  # the kit folder (<state dir>/back)
sig=$2   # the Otterfile's settings the kits were made under (back.py's signature)
shift 2
names="before release keeps default port path expect timeout switch site retire after"
names="$names log-ok log-switch log-retire"
new="$back.new.$$"
rm -rf -- "$new" "$back"
write() {  # write DIR, then the values of $names in order
  dir=$1; shift
  mkdir -p "$dir" || return 1
  printf '%s' "$sig" > "$dir/sig" || return 1
  for n in $names; do
    printf '%s' "$1" > "$dir/$n" || return 1
    shift
  done
}
count=$(echo "$names" | wc -w)
if (umask 077; write "$new/cur" "$@") && shift "$count" && (umask 077; write "$new/rev" "$@") &&
   mv -- "$new" "$back"; then
  exit 0
fi
rm -rf -- "$new"
echo "otter: the switch back could not be left ready: a rollback takes two trips" >&2
exit 0

#!/bin/sh
# The forced command of a relay key (relay-keys.sh): load the `docker save` stream on stdin,
# keep image DIGEST only, and undo whatever else the archive did.
#   relay-receive.sh ENGINE DIGEST TAG EXPIRES   (TAG "-": none)
# An archive names images and may tag them, and a tag it names moves away from the image
# that had it. Only TAG may be set, and only on DIGEST (an archive saved by id carries no
# tag at all): a tag the load moved is pointed back at its old image, a tag it made is
# removed, an image it added other than DIGEST is removed. Exit 0 only when the archive held
# DIGEST and nothing else; 3: it held something else (undone); 4: no DIGEST; 5: expired.
set -u
engine=$1 want=$2 name=$3 expires=$4
LC_ALL=C
export LC_ALL
set -f  # the lists below are split on whitespace, never globbed

say() { echo "otter-receive: $*" >&2; }

now=$(date +%s)
if [ "$now" -gt "$expires" ]; then
  say "this relay key expired at $expires (now $now): refused"
  exit 5
fi
tags=$("$engine" image ls --no-trunc --format '{{.Repository}}:{{.Tag}} {{.ID}}') ||
  { say "cannot list the images"; exit 1; }
ids=" $("$engine" image ls -aq --no-trunc | tr '\n' ' ') "

out=$("$engine" load 2>&1)
status=$?
printf '%s\n' "$out"

old_id() {  # TAG: the image it named before the load, or nothing
  printf '%s\n' "$tags" | while read -r t i; do
    if [ "$t" = "$1" ]; then echo "$i"; fi
  done
}

others=""  # what the archive carried besides DIGEST (tagged at most TAG)
made=""  # tags the load made
loaded=$(printf '%s\n' "$out" | sed -n 's/^Loaded image ID: //p')
for t in $(printf '%s\n' "$out" | sed -n 's/^Loaded image: //p'); do
  id=$("$engine" image inspect --format '{{.Id}}' "$t" 2>/dev/null)
  loaded="$loaded $id"
  if [ "$t" = "$name" ] && [ "$id" = "$want" ]; then continue; fi
  others="$others $t"
  was=$(old_id "$t")
  if [ -z "$was" ]; then
    made="$made $t"
  elif [ "$was" != "$id" ]; then
    "$engine" tag "$was" "$t" || say "could not point $t back at $was"
  fi
done
seen=" "
for id in $loaded; do
  case $seen in *" $id "*) continue ;; esac
  seen="$seen$id "
  if [ "$id" = "$want" ]; then continue; fi
  others="$others $id"
  case $ids in
    *" $id "*) ;;  # it was here before the load: not ours to remove
    *) "$engine" image rm -f "$id" >/dev/null || say "could not remove $id" ;;
  esac
done
for t in $made; do  # a tag made on an image that stays (DIGEST, or one here before)
  if "$engine" image inspect "$t" >/dev/null 2>&1; then
    "$engine" image rm "$t" >/dev/null || say "could not remove the tag $t"
  fi
done

if [ "$status" -ne 0 ]; then
  say "$engine load failed (exit $status)"
  exit "$status"
fi
if [ -n "$others" ]; then
  say "refused what the archive carried besides $want:$others (undone)"
  exit 3
fi
have=$("$engine" image inspect --format '{{.Id}}' "$want" 2>/dev/null)
if [ "$have" != "$want" ]; then
  say "the archive did not hold $want"
  exit 4
fi

#!/bin/sh
# On the relay host: load the image stream on stdin into ENGINE and pass the same bytes on
# to each child over ssh, with the transfer's key and the children's host keys in FOLDER.
#   relay-send.sh FOLDER ENGINE [USER HOST PORT]...
# Each child reads a fifo through ssh; once its ssh ended the rest of its share is drained,
# so a dead child never holds tee. Prints `otter-relay N STATUS LAST-LINES` per child.
d=$1 engine=$2
shift 2
n=0
while [ $# -ge 3 ]; do
  n=$((n + 1))
  mkfifo "$d/c$n"
  {
    ssh -T -i "$d/key" -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes \
      -o UserKnownHostsFile="$d/known_hosts" -o ConnectTimeout=15 \
      -o ServerAliveInterval=15 -o ServerAliveCountMax=4 -p "$3" -l "$1" -- "$2" \
      >"$d/o$n" 2>&1
    echo $? >"$d/s$n"
    cat >/dev/null
  } <"$d/c$n" &
  shift 3
done
i=0
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  set -- "$@" "$d/c$i"
done
tee -p "$@" | "$engine" load >"$d/own" 2>&1
s=$?
wait
i=0
while [ "$i" -lt "$n" ]; do
  i=$((i + 1))
  echo "otter-relay $i $(cat "$d/s$i" 2>/dev/null || echo 255) $(tail -n 2 "$d/o$i" | tr '\n' ' ')"
done
[ "$s" = 0 ] || tail -n 3 "$d/own" >&2
exit "$s"

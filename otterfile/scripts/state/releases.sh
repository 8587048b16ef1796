# A deployment's release state on this host, read-only: releases.json, then each runtime
# kind's instances after a `--- otter:instances KIND` line, then the deploy log's last lines
# after `--- otter:log`. The first kind (the Otterfile's) is always listed, another when
# releases.json names it (or EVERY is 1, or the file names no runtime at all: an older otter
# wrote it, its instances are looked for everywhere).
#   releases.sh FOLDER LINES EVERY [KIND LISTING]...   (LISTING: the shell line listing them)
d=$1        # the deployment's state folder
lines=$2    # how many deploy-log lines
every=$3    # 1: list every kind
shift 3
first=1
# releases.json printed and kept in $s by the shell, as `cat; echo` prints it (a file
# without a last newline ends its line): no cat nor grep a kind
s="" l=""
if [ -f "$d/releases.json" ]; then
  while IFS= read -r l; do printf '%s\n' "$l"; s="$s$l
"; done < "$d/releases.json" 2>/dev/null
  printf '%s' "$l"; s="$s$l"
fi
echo
case $s in *'"id"'*) case $s in *'"runtime"'*) ;; *) every=1 ;; esac ;; esac
while [ $# -ge 2 ]; do
  if [ "$first" = 1 ] || [ "$every" = 1 ] || case $s in *"\"$1\""*) true ;; *) false ;; esac
  then
    echo "--- otter:instances $1"
    sh -c "$2" 2>/dev/null
  fi
  first=0; shift 2
done
echo "--- otter:log"
if [ "$lines" -gt 0 ] && [ -f "$d/deploy.log" ]; then tail -n "$lines" "$d/deploy.log"; fi
exit 0

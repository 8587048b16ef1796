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
cat "$d/releases.json" 2>/dev/null; echo  # a file without a last newline ends its line
if grep -q '"id"' "$d/releases.json" 2>/dev/null && ! grep -q '"runtime"' "$d/releases.json"
then every=1; fi
while [ $# -ge 2 ]; do
  if [ "$first" = 1 ] || [ "$every" = 1 ] || grep -qF "\"$1\"" "$d/releases.json" 2>/dev/null
  then
    echo "--- otter:instances $1"
    sh -c "$2" 2>/dev/null
  fi
  first=0; shift 2
done
echo "--- otter:log"
if [ "$lines" -gt 0 ] && [ -f "$d/deploy.log" ]; then tail -n "$lines" "$d/deploy.log"; fi
exit 0

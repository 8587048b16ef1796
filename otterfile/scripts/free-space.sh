#!/bin/sh
# Free space where an artifact lands on this host, read-only.
# Stdin: `ROLE PATH` lines (a runtime's landing command). For each, prints
# `ROLE<tab>KiB FREE<tab>MOUNT POINT<tab>PATH`: the file system of PATH's nearest existing
# folder (a store not made yet lands on its parent's), as df reports it for this user.
tab=$(printf '\t')
while read -r role path; do
  case $path in /*) ;; *) continue ;; esac
  dir=$path
  while [ ! -d "$dir" ] && [ "$dir" != / ]; do  # its parent, as dirname says (no process)
    dir=${dir%/}; dir=${dir%/*}; dir=${dir:-/}
  done
  df -Pk -- "$dir" 2>/dev/null | awk -v role="$role" -v path="$path" -v tab="$tab" '
    NR == 2 && $4 ~ /^[0-9]+$/ {
      mount = $6; for (i = 7; i <= NF; i++) mount = mount " " $i
      print role tab $4 tab mount tab path }'
done
exit 0

# Remove images not in use; prints `removed REF` or `kept REF (in use)` for each. An id
# that is no image id may be a registry digest (the sha256 of a manifest): then the
# NAME@sha256:... references pulled under it are what is removed.
#   prune.sh ENGINE [ID]...
e=$1; shift
for i; do
  refs=$i
  if ! "$e" image inspect "$i" >/dev/null 2>&1; then
    refs=$("$e" images --digests --format '{{.Repository}}@{{.Digest}}' 2>/dev/null \
      | grep -x "[^@ ]*@sha256:$i" | sort -u)
    [ -n "$refs" ] || continue
  fi
  for r in $refs; do
    if "$e" image rm "$r" >/dev/null 2>&1; then echo "removed $r"; else echo "kept $r (in use)"; fi
  done
done

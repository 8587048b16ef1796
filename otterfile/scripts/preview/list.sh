# The previews of a deployment on this host: one line each, LABEL TAB its preview.json
# (what `otter run --preview` wrote: domain, expiry), from the folders NAME--LABEL.
base=$1  # the state folders' parent (/var/lib/otter)
name=$2  # the deployment whose previews are listed
for f in "$base/$name"--*/preview.json; do
  [ -f "$f" ] || continue
  dir=${f%/preview.json}
  printf '%s\t%s\n' "${dir##*/"$name"--}" "$(tr -d '\n' < "$f")"
done
exit 0

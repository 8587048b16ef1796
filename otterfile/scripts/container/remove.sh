# Remove containers; those already gone are no error.
#   remove.sh ENGINE [NAME]...
e=$1; shift
for n; do
  if "$e" container inspect "$n" >/dev/null 2>&1; then "$e" rm -f "$n" >/dev/null || exit 1; fi
done

# The files otter generated for a deployment on this target (run/drift.py, for
# `otter plan --check --exit-code`): for each file matching a pattern, a line
# `--- otter:file PATH`, then its lines each behind a `|` (no line of a file, whatever it
# holds, reads as a marker). The arguments are glob patterns otter made from paths whose
# names it checked. Read-only.
for pattern in "$@"; do
  # shellcheck disable=SC2086  # the pattern is expanded here on purpose: a glob
  for f in $pattern; do
    [ -f "$f" ] || continue
    printf '%s %s\n' "--- otter:file" "$f"
    sed 's/^/|/' -- "$f" 2>/dev/null
    [ -z "$(tail -c 1 -- "$f" 2>/dev/null)" ] || echo  # a last line without its newline
  done
done
exit 0

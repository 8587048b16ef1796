# The files otter generated for a deployment on this target (run/drift.py, for
# `otter plan --check --exit-code`): each file matching a pattern, after a line
# `--- otter:file PATH`, then its text and one newline more (a text may not end with one).
# The arguments are glob patterns otter made from paths whose names it checked. Read-only.
for pattern in "$@"; do
  # shellcheck disable=SC2086  # the pattern is expanded here on purpose: a glob
  for f in $pattern; do
    [ -f "$f" ] || continue
    printf '%s %s\n' "--- otter:file" "$f"
    cat -- "$f" 2>/dev/null
    echo
  done
done
exit 0

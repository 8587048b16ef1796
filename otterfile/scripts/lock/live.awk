# The live release of a releases.json as otter writes it (json.dumps, indent 2, sorted keys),
# when a no-op may be decided here (lock/unchanged.sh): exactly one record `live`, named by
# the file's "live", with the fingerprint `want` and the runtime `rt`, and no record still
# `starting` (recover settles that). Prints "ID INSTANCE PORT"; anything else exits 1.
function val(s) {
  sub(/^[^:]*: /, "", s); sub(/,$/, "", s); gsub(/^"|"$/, "", s)
  return s
}
/^  "live": / { live = val($0); next }
/^      "[a-z]+": / {
  k = $0; sub(/^ *"/, "", k); sub(/".*/, "", k)
  f[k] = val($0); next
}
/^    },?$/ {
  if (f["status"] == "starting") starting = 1
  if (f["status"] == "live") {
    lives++; id = f["id"]; inst = f["instance"]; port = f["port"]; cfg = f["config"]
    r = f["runtime"]
  }
  split("", f); next
}
END {
  if (starting || lives != 1 || id != live || cfg != want || r != rt) exit 1
  if (id !~ /^[0-9]+T[0-9]+-[0-9a-f]+$/ || inst !~ /^[A-Za-z0-9@._-]+$/) exit 1
  if (port !~ /^[0-9]+$/) exit 1
  print id, inst, port
}

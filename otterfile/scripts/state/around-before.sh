# A command between two writes of a deployment's releases.json, in one round trip: this
# script, then the command's own line (it reads this script's stdin), then around-after.sh.
# The file becomes BEFORE ("": left as it is) first; each write is a temporary file renamed.
# Exit 90: the first write failed and nothing ran.
f=$1        # releases.json
before=$2   # its text before the command ("": as it is)
# shellcheck disable=SC2034  # after is written by around-after.sh, once the command succeeded
after=$3    # its text after the command
put() {
  t="$f.otter-tmp.$$"
  # made 644 by the umask; the folder made once (no process when it is there)
  (umask 022; { [ -d "${f%/*}" ] || mkdir -p "${f%/*}"; } && printf '%s' "$1" > "$t") &&
    mv -f "$t" "$f" && return 0
  rm -f "$t"; echo "otter: cannot write $f" >&2; return 1
}
[ -z "$before" ] || put "$before" || exit 90

# The key that makes a deployment's release fingerprints unguessable: made once per
# deployment and host (mode 600, root only), then printed.
k=$1        # the key file
if [ ! -s "$k" ]; then
  case $k in */*) d=${k%/*} ;; *) d=. ;; esac
  # shellcheck disable=SC2046  # od's words joined by printf: 64 hex digits, no newline
  (umask 077; { [ -d "${d:-/}" ] || mkdir -p -- "$d"; } &&
   printf '%s' $(od -An -N32 -tx1 /dev/urandom) > "$k.tmp.$$" && [ -s "$k.tmp.$$" ] &&
   mv -f "$k.tmp.$$" "$k") || exit 1
fi
# one line, printed by the shell (no cat)
IFS= read -r key < "$k" || [ -n "$key" ] || exit 1
printf '%s' "$key"

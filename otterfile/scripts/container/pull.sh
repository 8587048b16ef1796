# Pull an image from a registry, after login.sh (its function). Prints `present` (pinned and
# there: nothing pulled), or `before NAME@D` lines (every repo digest the engine had
# before), `pulled`, then `digest D` (docker's "Digest:" line), `repo NAME@D` lines (the
# pulled image's) and `own D` (podman: the digest of the image's own manifest).
# Exit 5: the login was refused; 6: the pull failed; 127: no engine. Stdin: the password.
e=$1        # the engine: docker or podman
ref=$2      # the tag reference
pinned=$3   # NAME@sha256:... once pinned ("": not yet)
server=$4   # the registry
user=$5     # the user to log in as ("": no login)
command -v "$e" >/dev/null 2>&1 || { echo "$e: not found on this host" >&2; exit 127; }
repos() { "$e" image inspect --format '{{range .RepoDigests}}{{println .}}{{end}}' "$1" \
  2>/dev/null | sed '/^$/d'; }
if [ -n "$pinned" ] && "$e" image inspect "$pinned" >/dev/null 2>&1; then echo present; exit 0; fi
[ -n "$pinned" ] || "$e" images --digests --format '{{.Repository}}@{{.Digest}}' 2>/dev/null \
  | sed -n 's/^\([^@ ]*@sha256:[0-9a-f]*\)$/before \1/p'
registry_login "$e" "$server" "$user"
from=${pinned:-$ref}
if ! out=$("$e" pull "$from" 2>&1 </dev/null); then printf '%s\n' "$out" >&2; exit 6; fi
echo pulled
printf '%s\n' "$out" | sed -n 's/^Digest: \(sha256:[0-9a-f]*\)$/digest \1/p'
repos "$from" | sed 's/^/repo /'
"$e" image inspect --format 'own {{.Digest}}' "$from" 2>/dev/null | grep '^own sha256:' || true

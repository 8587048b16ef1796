# On the controller: tag an image and push it to a registry, after login.sh (its function).
# A temporary config keeps the engine the current docker context names (DOCKER_HOST).
# Prints the push's lines, then `pushed D` (the digest the registry stored).
# Exit 5: the login was refused; 6: the push failed. Stdin: the password.
e=$1        # docker
id=$2       # the image id
to=$3       # NAME:TAG to push
server=$4   # the registry
user=$5     # the user to log in as ("": no login)
if [ -n "$user" ] && [ -z "${DOCKER_HOST:-}" ]; then
  h=$("$e" context inspect --format '{{.Endpoints.docker.Host}}' 2>/dev/null) && \
    [ -n "$h" ] && export DOCKER_HOST="$h"
fi
registry_login "$e" "$server" "$user"
"$e" tag "$id" "$to" || exit 1
if ! out=$("$e" push "$to" 2>&1 </dev/null); then printf '%s\n' "$out" >&2; exit 6; fi
printf '%s\n' "$out"
printf '%s\n' "$out" | sed -n 's/.*digest: \(sha256:[0-9a-f]\{64\}\).*/pushed \1/p'

# registry_login ENGINE SERVER USER: log in to a registry (USER "": no login) into a private
# temporary config (DOCKER_CONFIG for docker, REGISTRY_AUTH_FILE for podman) removed when
# the script ends, the password read from stdin (--password-stdin). Exit 5: refused.
# A function the pull and push scripts include.
registry_login() {
  [ -n "$3" ] || return 0
  auth=$(mktemp -d) || exit 1
  trap 'rm -rf "$auth"' EXIT
  trap 'exit 143' HUP INT TERM
  export DOCKER_CONFIG="$auth" REGISTRY_AUTH_FILE="$auth/auth.json"
  if ! out=$("$1" login --username "$3" --password-stdin "$2" 2>&1); then
    printf '%s\n' "$out" >&2; exit 5
  fi
}

# A preview's named volumes deleted with it (`otter remove NAME --preview LABEL`, its expiry):
# each one the engine has; a volume still in use by a container is an error.
#   drop-volumes.sh ENGINE VOLUME...
engine=$1   # docker or podman
shift
for volume in "$@"; do
  "$engine" volume inspect "$volume" >/dev/null 2>&1 || continue
  "$engine" volume rm "$volume" >/dev/null || exit 1
done
exit 0

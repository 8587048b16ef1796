# Where a container engine keeps named volumes, as `volume-NAME MOUNTPOINT` lines, for those
# it has (CREATE=1: a missing one is made first). Read-only otherwise.
#   volumes.sh ENGINE CREATE VOLUME...
engine=$1   # docker or podman
create=$2   # 1: make a missing volume
shift 2
for volume in "$@"; do
  if ! "$engine" volume inspect "$volume" >/dev/null 2>&1; then
    [ "$create" = 1 ] || continue
    "$engine" volume create "$volume" >/dev/null || exit 1
  fi
  path=$("$engine" volume inspect --format '{{.Mountpoint}}' "$volume") || exit 1
  printf 'volume-%s %s\n' "$volume" "$path"
done
exit 0

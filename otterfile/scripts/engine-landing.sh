# Where a container engine writes an image it loads, as `ROLE PATH` lines: its own data root
# (docker load writes the archive to <root>/tmp first, podman to its image copy folder),
# then the layers under the root. Read-only; nothing without the engine.
engine=$1   # docker or podman
case $engine in
  docker) root=$(docker info -f '{{.DockerRootDir}}' 2>/dev/null) && [ -n "$root" ] &&
            printf 'archive %s/tmp\nunpacked %s\n' "$root" "$root" ;;
  podman) found=$(podman info -f '{{.Store.GraphRoot}}|{{.Store.ImageCopyTmpDir}}' 2>/dev/null) &&
            printf 'archive %s\nunpacked %s\n' "${TMPDIR:-${found#*|}}" "${found%%|*}" ;;
esac
exit 0

# A container's state, exit code, restarts, OOM kill and last log lines, read-only.
# Exit 3: no such container.
e=$1        # the engine: docker or podman
name=$2     # the container
lines=$3    # how many log lines
fmt='{{.State.Status}} {{.State.ExitCode}} {{.RestartCount}} {{.State.OOMKilled}}'
if ! s=$("$e" container inspect -f "$fmt" "$name" 2>/dev/null); then echo missing; exit 3; fi
echo "$s"
"$e" logs --tail "$lines" "$name" 2>&1
exit 0

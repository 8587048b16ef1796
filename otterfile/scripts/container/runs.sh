# Every otter container of a deployment, read-only, one line each: its name and `running`
# when it runs (another word when not), for a no-op decided on the target
# (lock/unchanged.sh). podman's {{.State}} reads like a status ("Up 4 seconds ago").
e=$1        # the engine: docker or podman
name=$2     # the deployment
"$e" ps -a --filter "label=otter.deployment=$name" --format '{{.Names}} {{.State}}' |
  sed 's/ Up .*$/ running/'

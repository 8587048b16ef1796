# Load a `docker save` archive from stdin into the engine, then run the runtime's probe (its
# answer the last line, as transfer/probe.py `probed` reads it): the ship needs no round trip
# of its own to ask whether the image is there now. A probe that fails leaves no answer (the
# ship asks again); the load's own exit status is the script's.
#   load.sh ENGINE PROBE
e=$1        # the engine: docker or podman
probe=$2    # shell line: the runtime's probe (container/probe.sh)
"$e" load || exit
sh -c "$probe" </dev/null || echo "otter: the probe after the load failed"
exit 0

# Start a release as a container on a free port of 127.0.0.1, in one round trip: write the
# store's record, write the env file from stdin, then try `run -d -p` on free ports until
# one binds. Runs after listening.sh (its function). Prints `port=N` and `container=ID`.
# Exit 4: no free port in the range after the tries.
#   start.sh ENGINE CPORT LO HI TRIES ENVFILE NAME INIT RECORD PRIVATE [RUN OPTIONS] IMAGE [COMMAND]
e=$1        # the engine: docker or podman
cport=$2    # the port the container listens on
lo=$3       # the lowest port to pick
hi=$4       # the highest port to pick
tries=$5    # how many refused binds before giving up
envf=$6     # the env file to write from stdin ("": none)
name=$7     # the container's (unique) name
init=$8     # 1: run an init process in the container
rec=$9      # the store's record to write first ("": none)
priv=${10}  # balance="fleet": the private address published on too ("": 127.0.0.1 alone)
shift 10    # the rest: `run` options (no -p), then image and command
out=""

write_record() {
  [ -n "$rec" ] || return 0
  { mkdir -p "${rec%/*}" && : > "$rec"; } || { echo "otter: cannot write $rec" >&2; exit 1; }
}

write_env() {
  [ -n "$envf" ] || return 0
  (umask 077; mkdir -p "$(dirname "$envf")" && cat > "$envf.tmp" && mv -f "$envf.tmp" "$envf") \
    || { echo "otter: cannot write $envf" >&2; exit 1; }
}

init_path() {  # podman's --init wants catatonit; a static tini (Debian's docker-init) serves
  p=/usr/libexec/podman/catatonit
  [ -x "$p" ] || p=$(command -v catatonit || command -v tini-static || command -v docker-init)
  [ -n "$p" ] || { echo "otter: podman --init needs catatonit or tini-static on this host" \
    "(install one, or podman(init=False))" >&2; exit 1; }
}

write_record
if [ "$init" = 1 ] && [ "${e##*/}" = podman ]; then
  init_path
  set -- --init --init-path "$p" "$@"
elif [ "$init" = 1 ]; then
  set -- --init "$@"
fi
write_env
taken=" $(listening | tr '\n' ' ') "
port=$lo n=0
while [ "$port" -le "$hi" ]; do
  case "$taken" in *" $port "*) port=$((port + 1)); continue ;; esac
  also=""
  [ -z "$priv" ] || also="$priv:$port:$cport"
  if out=$("$e" run -d -p "127.0.0.1:$port:$cport" ${also:+-p "$also"} "$@" 2>&1); then
    echo "port=$port"; echo "container=$(printf '%s\n' "$out" | tail -n 1)"; exit 0
  fi
  case "$out" in
    *"port is already allocated"*|*"address already in use"*) ;;
    *) printf '%s\n' "$out" >&2; exit 1 ;;
  esac
  # a refused bind leaves a created container behind: ours, under our unique name
  "$e" rm -f "$name" >/dev/null 2>&1
  n=$((n + 1)); port=$((port + 1))
  [ "$n" -ge "$tries" ] && break
done
printf '%s\n' "$out" >&2
echo "otter: no free port on 127.0.0.1 in $lo-$hi after $n tries" >&2
exit 4

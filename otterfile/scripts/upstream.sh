# Functions of the switch scripts (sourced first, no arguments of its own): the live
# release's port as the one file of an upstream folder, which the proxy reads per request
# (Caddy: a `file` matcher; nginx: njs), so pointing it elsewhere needs no reload.

# upstream_set FOLDER PORT: FOLDER holds exactly one port file, named PORT. The file served
# until now (the first in name order, as the proxies pick it) is renamed: one rename(2), so
# a request never finds the folder empty.
upstream_set() {
  up_dir=$1 up_port=$2 up_was=""
  case $up_port in
    '' | *[!0-9]*) echo "otter: not a port: $up_port" >&2; return 1 ;;
  esac
  if [ ! -d "$up_dir" ]; then  # made once (a switch that finds it pays no process)
    mkdir -p "$up_dir" && chmod 755 "$up_dir" || return 1
    # the proxy's user (caddy, www-data) only walks through the two folders above it
    chmod a+x "${up_dir%/*}" "${up_dir%/*/*}" || return 1
  fi
  for up_file in "$up_dir"/[0-9]*; do
    [ -e "$up_file" ] || continue
    if [ -z "$up_was" ]; then up_was=${up_file##*/}; else rm -rf "$up_file" || return 1; fi
  done
  if [ -z "$up_was" ]; then
    : > "$up_dir/$up_port" || return 1
  elif [ "$up_was" != "$up_port" ]; then
    mv -f "$up_dir/$up_was" "$up_dir/$up_port" || return 1
  fi
}

# upstream_restore: undo upstream_set (the port file it found back, or none).
upstream_restore() {
  [ -n "${up_port:-}" ] || return 0
  if [ -z "$up_was" ]; then
    rm -f "$up_dir/$up_port"
  elif [ "$up_was" != "$up_port" ]; then
    mv -f "$up_dir/$up_port" "$up_dir/$up_was"
  fi
}

# Functions the start scripts of every runtime include: `listening`, the ports something
# listens on, one a line (the kernel's socket tables read by the shell, or ss where they
# cannot be read), to pick a free port;
# `listens PORT`, to wait for the new release's.

# table_ports [HEX]: the kernel's socket tables read by the shell, no process (it lists
# listening sockets first, so the read stops at the first other line): the listening ports
# printed, or with HEX (a port as the tables write it) whether it is one of them.
# 2: the tables cannot be read.
table_ports() {
  [ -r /proc/net/tcp ] || return 2
  for f in /proc/net/tcp /proc/net/tcp6; do
    [ -r "$f" ] || continue
    while read -r _ local _ st _; do
      case $st in
        0A) if [ -z "${1:-}" ]; then echo $((0x${local##*:}))
            elif [ "${local##*:}" = "$1" ]; then return 0; fi ;;
        st) ;;  # the header
        *) break ;;
      esac
    done < "$f"
  done
  [ -z "${1:-}" ]
}

listening() {
  table_ports && return 0
  command -v ss >/dev/null 2>&1 || return 0
  ss -Hltn | awk '{n=split($4, a, ":"); print a[n]}'
}

# listens PORT: whether something listens on PORT (the tables, else ss)
listens() {
  [ "${ls_port:-}" = "$1" ] || { ls_port=$1; ls_hex=$(printf '%04X' "$1"); }
  table_ports "$ls_hex"
  case $? in 0) return 0 ;; 1) return 1 ;; esac
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
  else
    listening | grep -qx "$1"
  fi
}

# Functions the start scripts of every runtime include: `listening`, the ports something
# listens on, one a line (the kernel's socket tables read by the shell, or ss where they
# cannot be read), to pick a free port;
# `listens PORT`, to wait for the new release's.
listening() {
  if [ -r /proc/net/tcp ]; then  # read by the shell: no process (see `listens`)
    for f in /proc/net/tcp /proc/net/tcp6; do
      [ -r "$f" ] || continue
      while read -r _ local _ st _; do
        case $st in
          0A) echo $((0x${local##*:})) ;;
          st) ;;  # the header
          *) break ;;
        esac
      done < "$f"
    done
  elif command -v ss >/dev/null 2>&1; then
    ss -Hltn | awk '{n=split($4, a, ":"); print a[n]}'
  fi
}

# listens PORT: whether something listens on PORT. The kernel's socket tables read by the
# shell (no process a poll; it lists listening sockets first, so the read stops at the first
# other), else ss
listens() {
  if [ -r /proc/net/tcp ]; then
    [ "${ls_port:-}" = "$1" ] || { ls_port=$1; ls_hex=$(printf '%04X' "$1"); }
    for f in /proc/net/tcp /proc/net/tcp6; do
      [ -r "$f" ] || continue
      while read -r _ local _ st _; do
        case $st in
          0A) [ "${local##*:}" != "$ls_hex" ] || return 0 ;;
          st) ;;  # the header
          *) break ;;
        esac
      done < "$f"
    done
    return 1
  fi
  if command -v ss >/dev/null 2>&1; then
    [ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
  else
    listening | grep -qx "$1"
  fi
}

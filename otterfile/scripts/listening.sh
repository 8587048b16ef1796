# listening: the ports something listens on, one a line (ss, or /proc/net/tcp where ss is
# missing). A function the start scripts of every runtime include to pick a free port.
listening() {
  if command -v ss >/dev/null 2>&1; then
    ss -Hltn | awk '{n=split($4, a, ":"); print a[n]}'
  else
    for f in /proc/net/tcp /proc/net/tcp6; do
      [ -r "$f" ] && awk 'NR > 1 && $4 == "0A" {split($2, a, ":"); print a[2]}' "$f" |
        while read -r h; do echo $((0x$h)); done
    done
  fi
}

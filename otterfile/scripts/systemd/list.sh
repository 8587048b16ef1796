# Every unit file of a deployment, running or not, read-only. One line per unit file:
# name, release, digest, state (tab-separated).
name=$1     # the deployment
units=$2    # the unit folder (/etc/systemd/system)
for f in "$units"/otter-"$name"@*.service; do
  [ -f "$f" ] || continue
  u=${f##*/}
  rel=$(sed -n 's/^X-Otter-Release=//p' "$f" | head -n 1)
  dig=$(sed -n 's/^X-Otter-Digest=//p' "$f" | head -n 1)
  st=$(systemctl show --property=ActiveState,SubState -- "$u" 2>/dev/null | tr '\n' ' ')
  printf '%s\t%s\t%s\t%s\n' "$u" "$rel" "$dig" "$st"
done
exit 0

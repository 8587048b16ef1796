# Every unit of a deployment, read-only, one line each: its name and `running` when it is
# active (another word when not), for a no-op decided on the target (lock/unchanged.sh).
name=$1     # the deployment
units=$2    # the unit folder (/etc/systemd/system)
for f in "$units"/otter-"$name"@*.service; do
  [ -f "$f" ] || continue
  u=${f##*/}
  if systemctl is-active --quiet -- "$u" 2>/dev/null; then echo "$u running"; else echo "$u stopped"; fi
done
exit 0

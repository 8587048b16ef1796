# Other proxy kinds' sites of a deployment on this host, read-only: "KIND active" or
# "KIND inactive" (whether that proxy runs) for each site file that exists.
#   proxy-sites.sh [KIND SITE_FILE]...
while [ $# -ge 2 ]; do
  if [ -f "$2" ]; then
    if systemctl is-active --quiet "$1"; then echo "$1 active"; else echo "$1 inactive"; fi
  fi
  shift 2
done
exit 0

# Whether the proxy serves a port for a deployment now: the port file of its upstream folder
# names it, or its site names 127.0.0.1:PORT (a reload switch). Prints `serves` or `not`.
# Asked after a switch whose answer was lost (the connection dropped): the release must not
# be removed if the switch went through.
site=$1     # the proxy's site file of the deployment
updir=$2    # its upstream folder
port=$3     # the new release's port
if [ -e "$updir/$port" ] || grep -Eq "127\.0\.0\.1:$port([^0-9]|$)" "$site" 2>/dev/null; then
  echo serves
else
  echo not
fi

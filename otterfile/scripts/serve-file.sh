# On the build host: serve one kept file over HTTP for as long as stdin stays open.
# Exit 3: no such file; 4: no python3.
file=$1     # the file
address=$2  # the address to listen on ("": the default route's)
program=$3  # the server (serve_file.py)
[ -f "$file" ] || { echo "otter: no file $file" >&2; exit 3; }
command -v python3 >/dev/null || { echo "otter: python3 is needed to serve $file" >&2; exit 4; }
exec python3 -c "$program" "$file" "$address"

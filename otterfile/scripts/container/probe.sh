# Whether an image is on this host, in one round trip: "present" when IMAGE is already that
# id; when only the id is there, point the tag at it and say "tagged"; else "missing".
# Exit 127: no engine at all.
e=$1        # the engine: docker or podman
want=$2     # the image id (bare hex)
image=$3    # the tag that should name it ("": none)
command -v "$e" >/dev/null 2>&1 || { echo "$e: not found" >&2; exit 127; }
id_of() { "$e" image inspect --format '{{.Id}}' "$1" 2>/dev/null | sed 's/^sha256://'; }
if [ -n "$image" ] && [ "$(id_of "$image")" = "$want" ]; then echo present; exit 0; fi
if [ "$(id_of "$want")" = "$want" ]; then
  if [ -z "$image" ]; then echo present; exit 0; fi
  "$e" tag "$want" "$image" && { echo tagged; exit 0; }
  exit 1
fi
echo missing

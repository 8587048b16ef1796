# Whether an image is on this host, in one round trip: "present" when IMAGE is already that
# id; when only the id is there, point the tag at it and say "tagged"; else "missing".
# Exit 127: no engine at all.
e=$1        # the engine: docker or podman
want=$2     # the image id (bare hex)
image=$3    # the tag that should name it ("": none)
command -v "$e" >/dev/null 2>&1 || { echo "$e: not found" >&2; exit 127; }
# one inspect of the id and the tag (a CLI start each costs tens of ms): both engines print
# a line per one found, in this order, and exit non-zero when one is not
found=$("$e" image inspect --format '{{.Id}}' "$want" ${image:+"$image"} 2>/dev/null |
  sed 's/^sha256://')
first=${found%%"
"*}
if [ "$first" != "$want" ]; then echo missing; exit 0; fi
tag=${found#"$first"}; tag=${tag#"
"}
if [ -z "$image" ] || [ "$tag" = "$want" ]; then echo present; exit 0; fi
"$e" tag "$want" "$image" && { echo tagged; exit 0; }
exit 1

# The key that makes a deployment's release fingerprints unguessable: made once per
# deployment and host (mode 600, root only), then printed.
k=$1        # the key file
if [ ! -s "$k" ]; then
  (umask 077; mkdir -p "$(dirname "$k")" &&
   head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$k.tmp.$$" && mv -f "$k.tmp.$$" "$k") \
    || exit 1
fi
cat "$k"

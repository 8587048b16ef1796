#!/bin/sh
# Pack Debian 12's redis-server (from the redis-tools package: redis-check-rdb is the
# server binary under another name) with the libraries a stock Debian 12 lacks into
# redis.tar.gz. Needs: a Debian 12 controller with apt and dpkg-deb (and its mirror).
set -eu
here=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get download -q redis-tools libjemalloc2 liblzf1 libatomic1 2>/dev/null
for deb in ./*.deb; do dpkg-deb -x "$deb" root; done
mkdir -p out/lib
cp root/usr/bin/redis-check-rdb out/redis-server
cp -a root/usr/lib/x86_64-linux-gnu/*.so* out/lib/
cp "$here/run.sh" out/run.sh
# the same bytes every time (no dates, fixed order): an unchanged build is an unchanged artifact
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -cf - -C out . | gzip -n > "$here/redis.tar.gz"

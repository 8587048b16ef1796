#!/bin/sh
# Make examples/hello/app (with a static busybox) a git repository at /srv/hello.git on the
# build host, target3 of the test hosts: what build(repo="/srv/hello.git", on="builder") clones.
set -eu
cd "$(dirname "$0")/../.."
keys=tests/testbed/.cache/hosts
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp -r examples/hello/app "$work/app" && cp /bin/busybox "$work/app/busybox"
git -C "$work/app" init -q -b main
git -C "$work/app" add -A
git -C "$work/app" -c user.name=otter -c user.email=otter@example.test commit -qm hello
git clone -q --bare "$work/app" "$work/hello.git"
tar -C "$work/hello.git" -c . | ssh -i "$keys/id_ed25519" -o UserKnownHostsFile="$keys/known_hosts" \
    -p 2203 root@127.0.0.1 'rm -rf /srv/hello.git && mkdir -p /srv/hello.git && tar -x -C /srv/hello.git'
echo "target3 has /srv/hello.git"

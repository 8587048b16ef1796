#!/bin/sh
# Set everything up on a fresh Debian machine (as root) and deploy examples/hello for real:
# Docker engine, the test hosts (Debian servers with sshd, Docker and Caddy, on 127.0.0.1),
# then `otter run production`, then ask each server's Caddy for the page.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
python3 -m tests.testbed.hosts up
# git checks files out 0644; otter warns about a secrets file others can read
chmod 600 examples/hello/.otter/secrets
otter -f examples/hello/Otterfile.py plan production
otter -f examples/hello/Otterfile.py run production
for port in 8201 8202; do
    printf '127.0.0.1:%s answers: ' "$port"
    curl -fsS -H 'Host: hello.test' "http://127.0.0.1:$port/"
done
otter -f examples/hello/Otterfile.py status production

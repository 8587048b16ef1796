"""A pre-built release tarball fetched by URL (checked against its sha256) and run under
systemd behind Caddy. Needs: RELEASE_URL (and RELEASE_SHA256) in the environment naming a
.tar.gz whose top level holds server.py (python-app/app packed will do), python3 and systemd
on the targets.

    tar czf /tmp/release.tar.gz -C examples/python-app/app .
    (cd /tmp && python3 -m http.server 8765 --bind 127.0.0.1 &)
    RELEASE_URL=http://127.0.0.1:8765/release.tar.gz \\
    RELEASE_SHA256=$(sha256sum /tmp/release.tar.gz | cut -d' ' -f1) \\
        otter -f examples/fetched-tarball/Otterfile.py run release
    curl -H 'Host: release.test' http://127.0.0.1:8201/
"""
import os
from pathlib import Path

from otterfile import (Deployment, HealthCheck, caddy, deployment, fetch, ssh, systemd)

KEYS = Path(os.environ.get("OTTER_TESTBED_KEYS") or os.environ.get("OTTER_TESTBED_HOME")
            or "/var/tmp/otter-testbed")
SERVERS = [ssh(f"root@127.0.0.1:{port}", identity_file=str(KEYS / "id_ed25519"),
               known_hosts=str(KEYS / "known_hosts")) for port in (2201, 2202)]


@deployment
def release():
    return Deployment(
        artifact=fetch(os.environ.get("RELEASE_URL", "http://127.0.0.1:8765/release.tar.gz"),
                       sha256=os.environ.get("RELEASE_SHA256")),
        runtime=systemd(command="/usr/bin/python3 server.py {port}", port=8000,
                        env={"GREETING": "hello from a fetched tarball"}),
        targets=SERVERS, domains=["release.test"], proxy=caddy(tls="off"),
        health_check=HealthCheck(path="/health", timeout_seconds=30))

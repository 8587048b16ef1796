"""A Python web app (app/, standard library only) packed into a tarball on the controller and
run under systemd on each target, behind Caddy (otterfile.stdlib.python_app), with a
migration step that runs once before the switch. Needs: python3 and systemd on the targets.

    python -m tests.testbed.hosts up
    otter -f examples/python-app/Otterfile.py run api
    curl -H 'Host: api.test' http://127.0.0.1:8201/
"""
import os
from pathlib import Path

from otterfile import caddy, deployment, secret, ssh
from otterfile.stdlib import migration, python_app

KEYS = Path(os.environ.get("OTTER_TESTBED_KEYS") or os.environ.get("OTTER_TESTBED_HOME")
            or "/var/tmp/otter-testbed")
SERVERS = [ssh(f"root@127.0.0.1:{port}", identity_file=str(KEYS / "id_ed25519"),
               known_hosts=str(KEYS / "known_hosts")) for port in (2201, 2202)]


@deployment
def api():
    return python_app(path="app", command="/usr/bin/python3 server.py {port}", port=8000,
                      targets=SERVERS, domains=["api.test"], proxy=caddy(tls="off"),
                      health="/health", env={"GREETING": "hello from systemd"},
                      steps=[migration("mkdir -p /var/lib/api && "
                                       "echo {release} >> /var/lib/api/migrations")])

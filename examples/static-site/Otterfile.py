"""A static site: public/ packed into a tarball, served behind Caddy by python3's http.server
under systemd (otterfile.stdlib.static_site). Needs: python3 and systemd on the targets.

    python -m tests.testbed.hosts up
    otter -f examples/static-site/Otterfile.py run site
    curl -H 'Host: static.test' http://127.0.0.1:8201/
"""
import os
from pathlib import Path

from otterfile import caddy, deployment, ssh
from otterfile.stdlib import static_site

KEYS = Path(os.environ.get("OTTER_TESTBED_KEYS") or os.environ.get("OTTER_TESTBED_HOME")
            or "/var/tmp/otter-testbed")
SERVERS = [ssh(f"root@127.0.0.1:{port}", identity_file=str(KEYS / "id_ed25519"),
               known_hosts=str(KEYS / "known_hosts")) for port in (2201, 2202)]


@deployment
def site():
    return static_site(path="public", targets=SERVERS, domains=["static.test"],
                       proxy=caddy(tls="off"))

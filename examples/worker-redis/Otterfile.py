"""A web app, a worker and a Redis service on the same hosts, with a migration that runs once.

- `cache`: Debian 12's redis-server packed into a tarball on the controller (redis/build.sh)
  and run under systemd with strategy="recreate": one instance per host, its data in
  /var/lib/otter/cache/data kept across releases, on 127.0.0.1:6379 (no proxy).
- `web`: a Python app (standard library only) under systemd behind Caddy for shop.test;
  its `migrate` step runs once, on the first host, before the switch.
- `worker`: a Python loop under systemd (recreate: never two at once) counting jobs in Redis.

All three run on one host (each host would otherwise have its own Redis, and a migration
that runs once would reach only the first host's). Needs: a Debian 12 controller with apt-get
and dpkg-deb (the build downloads four packages from the Debian mirror), python3 and systemd on
the targets (Debian 12).

    python -m tests.testbed.hosts up
    otter -f examples/worker-redis/Otterfile.py run stack
    curl -H 'Host: shop.test' http://127.0.0.1:8201/     # schema=1 jobs=N
"""
import os
from pathlib import Path

from otterfile import (Deployment, build, caddy, deployment, ssh, systemd)
from otterfile.stdlib import migration, python_app

KEYS = Path(os.environ.get("OTTER_TESTBED_KEYS") or os.environ.get("OTTER_TESTBED_HOME")
            or "/var/tmp/otter-testbed")
SERVERS = [ssh(f"root@127.0.0.1:{port}", identity_file=str(KEYS / "id_ed25519"),
               known_hosts=str(KEYS / "known_hosts")) for port in (2201,)]


@deployment
def stack():
    cache = Deployment(
        name="cache",
        artifact=build(path="redis", command="./build.sh", output="redis.tar.gz"),
        runtime=systemd(command="./run.sh", port=6379),
        targets=SERVERS, strategy="recreate")
    web = python_app(
        name="web", path="web", command="/usr/bin/python3 server.py {port}", port=8000,
        targets=SERVERS, domains=["shop.test"], proxy=caddy(tls="off"), health="/health",
        steps=[migration("cd /var/lib/otter/web/releases/{release} && "
                         "/usr/bin/python3 migrate.py 1")])
    worker = python_app(
        name="worker", path="worker", command="/usr/bin/python3 worker.py", port=8001,
        targets=SERVERS, strategy="recreate", health=None)
    return [cache, web, worker]

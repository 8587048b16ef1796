"""Deploy a tiny web app to two of the project's test hosts, behind Caddy.

    python -m tests.testbed.hosts up          # three Debian servers on 127.0.0.1:2201..2203
    otter -f examples/hello/Otterfile.py run production
    curl -H 'Host: hello.test' http://127.0.0.1:8201/
"""
import os
from pathlib import Path

from otterfile import (Deployment, HealthCheck, artifact, build, caddy, deployment, docker,
                       runtime, secret, ssh, step, target)

# The test hosts' key and known_hosts, written by `python -m tests.testbed.hosts up`.
KEYS = Path(os.environ.get("OTTER_TESTBED_KEYS") or os.environ.get("OTTER_TESTBED_HOME")
            or "/var/tmp/otter-testbed")


@artifact
def web():
    return build(path="app", command="cp /bin/busybox . && docker build -q -t hello:latest .")


@runtime
def web_container():
    return docker(port=8080, env={"GREETING": "production",
                                  "API_TOKEN": secret("HELLO_API_TOKEN")})


@target
def servers():
    return [ssh(f"root@127.0.0.1:{port}", identity_file=str(KEYS / "id_ed25519"),
                known_hosts=str(KEYS / "known_hosts"), name=f"web-{n}")
            for n, port in ((1, 2201), (2, 2202))]


@deployment
def production():
    return Deployment(artifact=web, runtime=web_container, targets=[servers],
                      domains=["hello.test"], proxy=caddy(tls="off"),
                      health_check=HealthCheck(path="/health", timeout_seconds=20))


@step(deployment="production", after="switch", on="once")
def announce(ctx):
    ctx.log(f"{ctx.release} is live ({ctx.image}, {ctx.digest[:19]})")

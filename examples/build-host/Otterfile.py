"""Build examples/hello on target3 (the build host) and deploy it to target1 and target2.

    python -m tests.testbed.hosts up          # three Debian servers on 127.0.0.1:2201..2203
    sh examples/build-host/put-repo.sh        # the app as a git repository on target3
    otter -f examples/build-host/Otterfile.py plan production   # the build shows on target3
    otter -f examples/build-host/Otterfile.py run production
    curl -H 'Host: hello.test' http://127.0.0.1:8201/
"""
from pathlib import Path

from otterfile import (Deployment, HealthCheck, artifact, build, caddy, deployment, docker,
                       runtime, ssh, target)

# The test hosts' key and known_hosts, written by `python -m tests.testbed.hosts up`.
KEYS = Path(__file__).resolve().parents[2] / "tests" / "testbed" / ".cache" / "hosts"


def host(port: int):
    return ssh(f"root@127.0.0.1:{port}", identity_file=str(KEYS / "id_ed25519"),
               known_hosts=str(KEYS / "known_hosts"))


@artifact
def web():
    # cloned, exported and built on the build host; the image stays in its Docker engine
    return build(repo="/srv/hello.git", ref="main",
                 command="docker build -q -t hello-built-remotely:latest .", on="builder")


@runtime
def web_container():
    return docker(port=8080, env={"GREETING": "built on target3"})


@target("builder")
def builder():
    return host(2203)


@target
def servers():
    return [host(2201), host(2202)]


@deployment
def production():
    return Deployment(artifact=web, runtime=web_container, targets=[servers],
                      domains=["hello.test"], proxy=caddy(tls="off"),
                      health_check=HealthCheck(path="/", timeout_seconds=20))

"""Starting and stopping containers on real test hosts, where the unit tests use a fake
engine: a port that is bound but not listening (invisible to `ss -l`, as a port taken in
the instant after the look) makes `docker run` fail, and the start takes the next port; a
release that ignores SIGTERM is killed once `stop_seconds` pass when it is retired."""
from __future__ import annotations

import re

import pytest

from tests.integration.deploy import DOMAIN, events, on, otter, served, write_app, \
    write_otterfile

pytestmark = pytest.mark.integration

LOW = 20000  # the first port of the range a release's port is picked from
HOLDER = "otter-test-port-holder"  # an otter-* unit: the testbed reset stops it
HOLD_FILE, BOUND = "/run/otter-test-hold.py", "/run/otter-test-hold.bound"
# binds the port without listening on it, so `ss -ltn` does not show it; without
# SO_REUSEADDR, so docker-proxy's bind fails (an earlier test's connections to the port may
# have to wait out TIME_WAIT first: up to a minute); says so in BOUND
HOLD = f"""import socket, sys, time
s = socket.socket()
for _ in range(240):
    try:
        s.bind(("127.0.0.1", {LOW}))
        break
    except OSError:
        time.sleep(0.5)
else:
    sys.exit("port {LOW} never came free")
open("{BOUND}", "w").close()
time.sleep(600)
"""


def containers(target) -> list[str]:
    listed = on(target, "docker", "ps", "-a", "--format", "{{.Names}} {{.State}}").stdout
    return sorted(line for line in listed.splitlines() if line.startswith("otter-production-"))


def test_a_bind_clash_takes_the_next_port(tmp_path, clean_target):
    wrote = on(clean_target, "sh", "-c", 'rm -f "$3" && printf "%s" "$1" > "$2"', "sh",
               HOLD, HOLD_FILE, BOUND)
    assert wrote.ok, wrote.stderr
    held = on(clean_target, "systemd-run", "--unit", HOLDER, "python3", HOLD_FILE)
    assert held.ok, held.stderr
    try:
        bound = on(clean_target, "sh", "-c", f"for i in $(seq 650); do test -e {BOUND} && exit; "
                   f"sleep 0.2; done; exit 1")
        assert bound.ok, "the port holder never bound its port"
        assert on(clean_target, "sh", "-c", f"! ss -Hltn | grep -q ':{LOW} '").ok  # no listener
        write_app(tmp_path / "app", "v1")
        write_otterfile(tmp_path, [clean_target])
        done = otter(tmp_path, "--json", "run", "production")
    finally:
        on(clean_target, "systemctl", "stop", HOLDER)
        on(clean_target, "rm", "-f", HOLD_FILE, BOUND)
    assert done.returncode == 0, done.stdout + done.stderr
    said = [e for e in events(done.stdout) if e.get("stage") == "start"]
    assert [e for e in said if str(e.get("message", "")).endswith(
        f" on 127.0.0.1:{LOW + 1}")], said  # the next port, after docker refused the first
    assert served(clean_target) == "200 v1"
    # the container the refused `docker run` created is gone: one, running
    (only,) = containers(clean_target)
    assert only.endswith(" running"), only


def test_a_container_that_ignores_sigterm_is_killed_when_retired(tmp_path, clean_target):
    write_app(tmp_path / "app", "v1")
    dockerfile = tmp_path / "app" / "Dockerfile"
    stubborn = dockerfile.read_text().replace('trap \\"exit 0\\" TERM INT', 'trap \\"\\" TERM')
    assert stubborn != dockerfile.read_text()  # the shell (and its httpd) ignore SIGTERM
    dockerfile.write_text(stubborn)
    write_otterfile(tmp_path, [clean_target])
    path = tmp_path / "Otterfile.py"
    path.write_text(path.read_text().replace("keep_releases=3,",
                                             "keep_releases=3, stop_seconds=1,"))
    assert "stop_seconds=1" in path.read_text()
    first = otter(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    ((old, _),) = [line.split() for line in containers(clean_target)]
    since = on(clean_target, "date", "+%s.%N").stdout.strip()  # sub-second: the kill
    # can land in the same second as `now` below, after a whole-second --until
    write_app(tmp_path / "app", "v2")
    second = otter(tmp_path, "run", "production")
    assert second.returncode == 0, second.stdout + second.stderr
    assert served(clean_target) == "200 v2"
    assert old not in " ".join(containers(clean_target))  # retired and removed
    now = on(clean_target, "date", "+%s.%N").stdout.strip()
    signals = on(clean_target, "docker", "events", "--since", since, "--until", now, "--filter",
                 f"container={old}", "--filter", "event=kill", "--format",
                 "{{.Actor.Attributes.signal}}").stdout.split()
    assert signals == ["15", "9"], signals  # asked to stop, then killed
    assert re.search(rf"\b{re.escape(DOMAIN)}\b", on(
        clean_target, "cat", "/etc/caddy/otter.d/production.caddy").stdout)

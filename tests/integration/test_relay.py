"""relay=True on real hosts: the controller streams the image to one target, which passes
it on to the other two over SSH (by the address their sshd saw themselves reached at, on
the hosts' own network); the controller's upload is about one copy, counted both in what
otter reports and on the targets' network interfaces."""
from __future__ import annotations

import os
import subprocess

from tests.integration.deploy import events, otter, served, write_app, write_otterfile
from tests.testbed.hosts import scoped

TAG = scoped("otter-it-relay:latest")  # this file's own image
BUILD = f"docker build -q -t {TAG} ."
PAD = 24 * 1024 * 1024


def rx_bytes(target) -> int:
    return int(subprocess.run(["docker", "exec", target.container, "cat",
                               "/sys/class/net/eth0/statistics/rx_bytes"],
                              capture_output=True, text=True, check=True).stdout)


def relay_otterfile(project, targets):
    path = write_otterfile(project, targets, timeout=20, command=BUILD)
    text = path.read_text().replace("parallel=None,", "parallel=None, relay=True,")
    assert "relay=True" in text
    path.write_text(text)


def test_relay_on_three_targets_the_controller_uploads_about_one_copy(tmp_path, clean_targets):
    write_app(tmp_path / "app", "v1")
    (tmp_path / "app" / "www" / "pad.bin").write_bytes(os.urandom(PAD))
    relay_otterfile(tmp_path, clean_targets)
    before = [rx_bytes(t) for t in clean_targets]
    result = otter(tmp_path, "--json", "run", "production")
    received = [rx_bytes(t) - b for t, b in zip(clean_targets, before)]
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    said = [e for e in events(result.stdout) if e.get("event") == "info"]
    relays = [e for e in said if "passed on to" in e["message"]]
    children = [e for e in said if e["message"].startswith("received from")]
    assert len(relays) == 1 and len(children) == 2, [e["message"] for e in said]
    uploaded = sum(e.get("data", e).get("bytes", 0) or 0 for e in said)
    assert PAD < uploaded < 1.3 * PAD, uploaded  # what otter sent: one copy
    assert [served(t) for t in clean_targets] == ["200 v1"] * 3
    # on the wire: every target received about one copy (the relay from the controller,
    # the others from the relay), so the controller's upload is one of those three
    assert all(PAD < r < 1.5 * PAD for r in received), received
    for target in clean_targets:  # the transfer's keys are gone
        keys = subprocess.run(["docker", "exec", target.container, "sh", "-c",
                               "cat /root/.ssh/authorized_keys 2>/dev/null"],
                              capture_output=True, text=True).stdout
        assert "otter-relay-" not in keys


SHIM = "/usr/local/bin/docker"  # first on a non-interactive session's PATH
# the relay "dies" mid-transfer: its load reads 1 MB, kills the SSH sessions it relays
# through, and fails; every other docker command is the real one
DYING = """#!/bin/sh
if [ "$1" = load ]; then
  head -c 1048576 >/dev/null; pkill -KILL -f '^ssh -T -i'; exit 1
fi
exec /usr/bin/docker "$@"
"""


def test_a_relay_that_dies_mid_transfer_hands_its_subtree_back(tmp_path, clean_targets):
    """The relay (the first target by name) dies mid-transfer: it fails at ship and keeps v1
    live; its children, left without the image, get v2 from the controller."""
    write_app(tmp_path / "app", "v1")
    relay_otterfile(tmp_path, clean_targets)
    first = otter(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    write_app(tmp_path / "app", "v2")
    (tmp_path / "app" / "www" / "pad.bin").write_bytes(os.urandom(PAD))
    relay, *children = sorted(clean_targets, key=lambda t: t.host.name)
    subprocess.run(["docker", "exec", "-i", relay.container, "sh", "-c",
                    f"cat > {SHIM} && chmod 755 {SHIM}"], input=DYING, text=True, check=True)
    try:
        result = otter(tmp_path, "--json", "run", "production")
    finally:
        subprocess.run(["docker", "exec", relay.container, "rm", "-f", SHIM], check=True)
    assert result.returncode == 1, result.stdout[-3000:] + result.stderr[-2000:]
    said = [e.get("message") or "" for e in events(result.stdout) if e.get("event") == "info"]
    handed = [m for m in said if m == f"{relay.host.name} could not relay: sent by the "
              "controller"]
    assert len(handed) == 2, said
    assert [served(t) for t in children] == ["200 v2"] * 2
    assert served(relay) == "200 v1"  # its old release stayed live

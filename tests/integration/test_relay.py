"""relay=True on real hosts: the controller streams the image to one target, which passes
it on to the other two over SSH (by the address their sshd saw themselves reached at, on
the hosts' own network); the controller's upload is about one copy, counted both in what
otter reports and on the targets' network interfaces."""
from __future__ import annotations

import os
import subprocess

from tests.integration.deploy import events, on, otter, served, write_app, write_otterfile
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


KEYS = "/root/.ssh/authorized_keys"
SCRIPTS = "/root/.ssh/otter-relay"
OPERATOR = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorKeyOfThisTest operator@{name}"
# what a run killed before its cleanup leaves on a child: its line (expired long ago) and
# the line's forced-command script
TOKEN = "0123456789abcdef"
KILLED = (f'restrict,command="sh {SCRIPTS}/{TOKEN}.sh docker sha256:{"ab" * 32} - 1000" '
          "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKilledRunKey otter-relay run=killed "
          "expires=1000\n")


def keys_of(target) -> bytes:
    return subprocess.run(["docker", "exec", target.container, "cat", KEYS],
                          capture_output=True, check=True).stdout


def plant(target, text: str) -> None:
    subprocess.run(["docker", "exec", "-i", target.container, "sh", "-c",
                    f"mkdir -p -m 700 /root/.ssh {SCRIPTS} && cat > {KEYS} && "
                    f"echo 'exit 9' > {SCRIPTS}/{TOKEN}.sh"],
                   input=text.encode(), check=True)


def test_relay_on_three_targets_the_controller_uploads_about_one_copy(tmp_path, clean_targets):
    """...and every authorized_keys is byte-identical afterwards: the relay's, a child's
    without a final newline, and a child's whose key left by a killed run is swept."""
    write_app(tmp_path / "app", "v1")
    (tmp_path / "app" / "www" / "pad.bin").write_bytes(os.urandom(PAD))
    relay_otterfile(tmp_path, clean_targets)
    ordered = sorted(clean_targets, key=lambda t: t.host.name)  # the first relays
    kept = [OPERATOR.format(name=t.name) + "\n" for t in ordered]
    kept[1] = kept[1].rstrip("\n")  # this child's file lacks its final newline
    for target, text in zip(ordered, kept):
        plant(target, text + (KILLED if target is ordered[2] else ""))
    before = [rx_bytes(t) for t in clean_targets]
    try:
        result = otter(tmp_path, "--json", "run", "production")
        after = [keys_of(t) for t in ordered]
        swept = not on(ordered[2], "test", "-e", f"{SCRIPTS}/{TOKEN}.sh").ok
    finally:
        for target in ordered:
            on(target, "rm", "-rf", KEYS, SCRIPTS)
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
    # the transfer's keys are gone, the killed run's too, the operator's bytes unchanged
    assert after == [text.encode() for text in kept]
    assert swept


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
    for child in children:  # its key gone though the transfer died
        assert b"otter-relay run=" not in on(child, "sh", "-c", f"cat {KEYS} || :").stdout.encode()


def receive(executor, digest: str, archive: list[str], expires: int = 4_000_000_000):
    """The children's forced command, run on a test host with `docker save ARCHIVE` on stdin."""
    from otterfile import scripts
    from otterfile.command import script
    saving = subprocess.Popen(["docker", "save", *archive], stdout=subprocess.PIPE)
    try:
        return executor.run(script(scripts.load("relay-receive.sh"),
                                   args=["docker", digest, "-", str(expires)]),
                            stdin=saving.stdout)
    finally:
        saving.stdout.close()
        saving.wait()


def test_the_childs_forced_command_keeps_only_the_announced_image(clean_target, app_image):
    """On a real engine: the announced image loads; an archive holding another image, tagged
    with a name the child already uses, is refused and undone (the name points back at its
    image, the other image is gone); after its expiry the key loads nothing."""
    from otterfile.executors import executor_for
    announced, foreign = app_image("relay announced"), app_image("relay foreign")
    victim = scoped("otter-it-victim:1")
    subprocess.run(["docker", "tag", foreign.id, victim], check=True)
    executor = executor_for(clean_target.host)
    image_of = "docker image inspect --format '{{.Id}}' " + victim
    try:
        loaded = receive(executor, announced.id, [announced.id])
        assert loaded.ok, loaded.stderr
        assert on(clean_target, "docker", "tag", announced.id, victim).ok
        refused = receive(executor, announced.id, [victim])  # carries `victim` -> foreign
        assert refused.exited == 3, refused.stdout + refused.stderr
        assert f"refused what the archive carried besides {announced.id}: {victim}" in \
            refused.stderr
        assert on(clean_target, "sh", "-c", image_of).stdout.strip() == announced.id
        assert not on(clean_target, "docker", "image", "inspect", foreign.id).ok
        late = receive(executor, foreign.id, [foreign.id], expires=1000)
        assert late.exited == 5 and "expired" in late.stderr
        assert not on(clean_target, "docker", "image", "inspect", foreign.id).ok
    finally:
        executor.close()
        subprocess.run(["docker", "rmi", "--no-prune", victim], capture_output=True)

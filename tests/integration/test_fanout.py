"""Fan-out on real hosts: one `docker save` on the controller feeds three targets at once,
and a target whose `docker load` is killed mid-transfer fails alone while the others finish.

"How many times did the controller's engine save the image" is read from the engine itself:
`docker events` records an image `save` event per `docker save` (per SDK `get_image`)."""
from __future__ import annotations

import os
import subprocess
import time

from tests.integration.deploy import (events, otter, served, start_otter, write_app,
                                      write_otterfile)
from tests.testbed import faults
from tests.testbed.hosts import scoped

TAG = scoped("otter-it-fanout:latest")  # this file's own image: its save events are ours alone
BUILD = f"docker build -q -t {TAG} ."


def big_app(folder, version: str) -> None:
    """The test app with 24 MB more in it (random: nothing compresses or is shared)."""
    write_app(folder, version)
    (folder / "www" / "pad.bin").write_bytes(os.urandom(24 * 1024 * 1024))


def image_id() -> str:
    return subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", TAG],
                          capture_output=True, text=True, check=True).stdout.strip()


def saves(image: str, since: int, until: int) -> int:
    """How many times the controller's Docker engine saved `image` between the two times."""
    found = subprocess.run(["docker", "events", "--since", str(since), "--until", str(until),
                            "--filter", "type=image", "--filter", "event=save",
                            "--filter", f"image={image}", "--format", "{{.ID}}"],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    return len(found.split())


def ends(seen: list[dict], host: str) -> dict[str, str]:
    return {e["stage"]: e["status"] for e in seen if e.get("event") == "end"
            and e.get("host") == host}


def test_one_docker_save_feeds_three_targets(tmp_path, clean_targets):
    big_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, clean_targets, timeout=20, command=BUILD)
    since = int(time.time()) - 1
    result = otter(tmp_path, "--json", "run", "production")
    until = int(time.time()) + 1
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    said = [e["message"] for e in events(result.stdout) if e.get("event") == "info"]
    assert any(m.startswith("one docker save stream for 3 targets") for m in said), said
    sent = [m for m in said if m.startswith("sent ")]
    assert len(sent) == 3 and all(int(m.split()[1]) > 24 * 1024 * 1024 for m in sent), said
    assert saves(image_id(), since, until) == 1  # the engine's own count, outside otter
    assert [served(t) for t in clean_targets] == ["200 v1"] * 3


def test_a_target_killed_mid_transfer_fails_alone(tmp_path, clean_targets):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, clean_targets, timeout=20, command=BUILD)
    first = otter(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    big_app(tmp_path / "app", "v2")
    *good, bad = clean_targets
    # bad takes its 24 MB in about 6 s: on loopback the whole load could end before the
    # kill lands (one CI run saw pkill find no `docker` left and the deploy pass)
    faults.throttle(bad, "4mb/s")
    since = int(time.time()) - 1
    process = start_otter(tmp_path, "run", "production")
    seen, killed = [], False
    for line in process.stdout:
        for event in events(line):
            seen.append(event)
            if not killed and event.get("event") == "progress" and \
                    event.get("host") == bad.host.name and event.get("done", 0) > 0:
                # bytes are flowing into bad's `docker load`: kill that client there
                # (pkill exits 0 only when it found one; else try at the next progress)
                killed = subprocess.run(["docker", "exec", bad.container, "pkill", "-KILL",
                                         "-x", "docker"], capture_output=True,
                                        timeout=30).returncode == 0
    process.wait(timeout=300)
    until = int(time.time()) + 1
    faults.heal(bad)
    assert killed, "never found bad's `docker load` while bytes flowed to it"
    assert process.returncode == 1, process.stderr.read()[-2000:]
    assert ends(seen, bad.host.name).get("ship") == "failed", ends(seen, bad.host.name)
    for target in good:
        assert ends(seen, target.host.name).get("retire") == "ok", ends(seen, target.host.name)
    said = [e.get("message") or "" for e in seen if e.get("event") == "info"]
    assert any(m.startswith("one docker save stream for 3 targets") for m in said), said
    assert saves(image_id(), since, until) == 1  # the dead reader left; nobody re-read it
    assert [served(t) for t in good] == ["200 v2"] * 2
    assert served(bad) == "200 v1"  # its old release stayed live


def test_a_frozen_target_does_not_hold_the_others(tmp_path, clean_targets):
    """A target frozen mid-transfer (every process stopped: docker pause) fills its buffer;
    the others finish while it is frozen, and once thawed it goes on with a docker save of
    its own (checked against the bytes it had) and finishes too."""
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, clean_targets, timeout=20, command=BUILD)
    first = otter(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    write_app(tmp_path / "app", "v2")  # bigger than every buffer on the way (48 MB)
    (tmp_path / "app" / "www" / "pad.bin").write_bytes(os.urandom(48 * 1024 * 1024))
    *good, bad = clean_targets
    since = int(time.time()) - 1
    process = start_otter(tmp_path, "run", "production")
    seen, state, finished_while_frozen = [], "running", set()
    try:
        for line in process.stdout:
            for event in events(line):
                seen.append(event)
                if state == "running" and event.get("event") == "progress" and \
                        event.get("host") == bad.host.name and event.get("done", 0) > 0:
                    faults.pause(bad)
                    state = "frozen"
                if state == "frozen" and event.get("event") == "end" and \
                        event.get("stage") == "retire":
                    finished_while_frozen.add(event["host"])
                    if finished_while_frozen >= {t.host.name for t in good}:
                        faults.unpause(bad)  # both others are done: thaw it
                        state = "thawed"
        process.wait(timeout=300)
    finally:
        if state == "frozen":
            faults.unpause(bad)
    until = int(time.time()) + 1
    assert state == "thawed", f"the others did not finish while {bad.host.name} was frozen"
    failed = [e for e in seen if e.get("status") == "failed" or e.get("event") == "info"]
    assert process.returncode == 0, "\n".join(map(str, failed))
    said = [e.get("message") or "" for e in seen if e.get("event") == "info"]
    assert any("goes on with its own docker save" in m for m in said), said
    assert saves(image_id(), since, until) == 2  # the shared one, and the frozen one's own
    assert [served(t) for t in clean_targets] == ["200 v2"] * 3


def test_a_build_host_saves_once_for_the_targets(tmp_path, clean_targets):
    """build(on="builder"): one `docker save` on the build host feeds both targets."""
    from tests.integration.test_build_host import (CACHE, OTTERFILE, REPO, put_repo, run_on,
                                                   spelled)
    *servers, builder = clean_targets
    tag = scoped("otter-it-fanout-built:1")
    app = write_app(tmp_path / "app", "built once")
    (app / "www" / "pad.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    put_repo(builder, app, "v1")
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        repo=REPO, command=f"docker build -q -t {tag} .", extra="",
        runtime="docker(port=8080)", builder=spelled(builder),
        servers=[spelled(t) for t in servers], deploy_to="[servers]"))
    try:
        since = int(run_on(builder, "date +%s").stdout) - 1
        done = otter(tmp_path, "--json", "run", "production", timeout=600)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
        said = [e["message"] for e in events(done.stdout) if e.get("event") == "info"]
        assert any(m.startswith("one docker save stream for 2 targets") for m in said), said
        image = run_on(builder, f"docker image inspect --format '{{{{.Id}}}}' {tag}")
        counted = run_on(builder, f"docker events --since {since} --until $(($(date +%s)+1)) "
                                  f"--filter type=image --filter event=save "
                                  f"--filter image={image.stdout.strip()} "
                                  "--format '{{.ID}}'")
        assert counted.ok and len(counted.stdout.split()) == 1, counted.stdout
        assert [served(t) for t in servers] == ["200 built once"] * 2
    finally:
        run_on(builder, f"rm -rf {REPO} {CACHE}; docker rmi {tag} >/dev/null 2>&1; true")


def test_a_relay_passes_the_image_on_to_the_others(tmp_path, clean_targets):
    """artifacts.relay (not wired into Deployment yet): the controller streams to target1,
    which loads it and passes it on over SSH, by name on the hosts' network, with a key
    that may only `docker load` and is gone afterwards; an unreachable child is reported."""
    from otterfile.transfer.images import DockerImages
    from otterfile.transfer.relay import Child, relay_image
    from otterfile.executors import executor_for
    from tests.integration.deploy import on
    tag = scoped("otter-it-fanout-relay:1")
    write_app(tmp_path / "app", "relayed")
    (tmp_path / "app" / "www" / "pad.bin").write_bytes(os.urandom(8 * 1024 * 1024))
    subprocess.run(["docker", "build", "-q", "-t", tag, str(tmp_path / "app")], check=True,
                   capture_output=True)
    digest = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", tag],
                            capture_output=True, text=True, check=True).stdout.strip()
    first, second, third = clean_targets
    kept = "# otter-it kept"  # a line of the user's own: it must stay
    for target in (second, third):
        assert on(target, "sh", "-c", f"mkdir -p ~/.ssh && echo '{kept}' >> "
                  "~/.ssh/authorized_keys").ok
    executors = [executor_for(t.host) for t in clean_targets]
    received = [rx_bytes(t) for t in clean_targets]
    try:
        children = [Child(executors[1], second.name), Child(executors[2], "no-such-target")]
        stream = DockerImages().save(digest)
        try:
            missing = relay_image(stream, digest, executors[0], children, run_id="it")
        finally:
            stream.close()
    finally:
        for executor in executors:
            executor.close()
    received = [rx_bytes(t) - before for t, before in zip(clean_targets, received)]
    assert [child.address for child in missing] == ["no-such-target"]
    assert on(first, "docker", "image", "inspect", digest).ok  # the relay loaded it too
    assert on(second, "docker", "image", "inspect", digest).ok  # passed on by target1
    assert not on(third, "docker", "image", "inspect", digest).ok
    assert received[1] > 8 * 1024 * 1024  # target2 got its copy from target1, not from us
    assert received[0] < 1.5 * received[1]  # the controller sent about one copy
    for target in (second, third):
        keys = on(target, "cat", "/root/.ssh/authorized_keys").stdout
        assert "otter-relay run=it" not in keys and kept in keys  # its key gone, the rest kept
        on(target, "sed", "-i", f"/^{kept}$/d", "/root/.ssh/authorized_keys")


def rx_bytes(target) -> int:
    return int(subprocess.run(["docker", "exec", target.container, "cat",
                               "/sys/class/net/eth0/statistics/rx_bytes"],
                              capture_output=True, text=True, check=True).stdout)

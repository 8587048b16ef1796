"""Preview deployments on real hosts: `otter run production --preview pr-1 --env ...` serves
the artifact under pr-1's domain on every target beside production, with its own state, the
env override and named volumes of its own; one more than `previews` is refused with the
list; `otter status` lists it; `otter remove --preview` takes it away with its expiry timer
and its volumes (production's stay); a short --ttl has the
target's timer remove a preview by itself, under the preview's lock (held by another run: it
waits, and removes it once the lock is free); production's schedules never run for a
preview."""
from __future__ import annotations

import time

import httpx

from tests.integration.deploy import events, on, otter, served, write_app, write_otterfile

STATE = "/var/lib/otter/production--{}"


def ok(done) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def get(target, host: str) -> str:
    response = httpx.get(target.url("/"), headers={"Host": host}, timeout=5)
    return f"{response.status_code} {response.text.strip()}"


def mounts(target, deployment: str) -> list[str]:
    """The named volumes the deployment's running containers mount."""
    line = (f"for c in $(docker ps -q --filter label=otter.deployment={deployment}); do "
            "docker inspect -f '{{range .Mounts}}{{.Name}} {{end}}' $c; done")
    return sorted(set(on(target, "sh", "-c", line).stdout.split()))


def gone_by_itself(target, label: str) -> bool:
    """Whether the expiry timer removed the preview: waits (bounded) for its state folder
    to go, on the target itself."""
    line = (f"for i in $(seq 120); do [ -d {STATE.format(label)} ] || exit 0; sleep 1; done; "
            f"exit 1")
    return on(target, "sh", "-c", line).exited == 0


def test_preview_run_refuse_status_remove_and_expire(tmp_path, two):
    write_otterfile(tmp_path, two)
    path = tmp_path / "Otterfile.py"
    path.write_text(path.read_text().replace(
        "parallel=None,", 'parallel=None, preview_domain="{label}.preview.test", previews=1, '
        'schedules=[Schedule("0 3 * * *", "true", name="backup")],').replace(
        'secret("APP_TOKEN")}', 'secret("APP_TOKEN")}, volumes=["pvdata:/data"]'))
    write_app(tmp_path / "app", "v1")
    ok(otter(tmp_path, "run", "production"))

    said = ok(otter(tmp_path, "run", "production", "--preview", "pr-1", "--env",
                    "GREETING=from-preview", "--ttl", "2h"))
    assert "preview production--pr-1: pr-1.preview.test on" in said
    for target in two:
        assert get(target, "pr-1.preview.test") == "200 v1"
        assert served(target) == "200 v1"  # production keeps serving beside it
        env = on(target, "sh", "-c", f"cat {STATE.format('pr-1')}/env/*.env").stdout
        assert "GREETING=from-preview" in env
        assert on(target, "systemctl", "is-active",
                  "otter-expire-production--pr-1.timer").stdout.strip() == "active"
        # production's named volume is production's; the preview mounts one of its own
        assert mounts(target, "production") == ["pvdata"]
        assert mounts(target, "production--pr-1") == ["production--pr-1_pvdata"]
    # production's schedule has its units; the preview none of its own
    assert on(two[0], "test", "-e", "/etc/systemd/system/otter-production:backup.timer").ok
    for target in two:
        assert on(target, "sh", "-c", "ls /etc/systemd/system | grep -c '^otter-production--'"
                  ).stdout.strip() == "0"

    refused = otter(tmp_path, "run", "production", "--preview", "pr-2")
    assert refused.returncode == 1
    assert "preview pr-2 of production refused: 1 previews already run (previews=1): pr-1" \
        in refused.stderr
    assert on(two[0], "test", "-d", STATE.format("pr-2")).exited != 0

    status = ok(otter(tmp_path, "status", "production"))
    assert "previews of production (1 of 1):" in status
    assert f"pr-1: pr-1.preview.test on {two[0].host.name}, {two[1].host.name}, expires " \
        in status
    records = [e for e in events(ok(otter(tmp_path, "--json", "status", "production")))
               if e["event"] == "status"]
    assert [[p["label"] for p in r["previews"]] for r in records] == [["pr-1"], ["pr-1"]]
    assert records[0]["previews"][0]["domain"] == "pr-1.preview.test"

    ok(otter(tmp_path, "remove", "production", "--preview", "pr-1", "--yes"))
    for target in two:
        assert get(target, "pr-1.preview.test") != "200 v1"
        assert on(target, "test", "-d", STATE.format("pr-1")).exited != 0
        assert on(target, "systemctl", "is-active",
                  "otter-expire-production--pr-1.timer").stdout.strip() != "active"
        assert served(target) == "200 v1"
        volumes = on(target, "docker", "volume", "ls", "-q").stdout.split()
        assert "pvdata" in volumes and "production--pr-1_pvdata" not in volumes

    said = events(ok(otter(tmp_path, "--json", "run", "production", "--preview", "pr-2",
                           "--ttl", "5s")))
    assert {k: said[-1][k] for k in ("event", "deployment", "label", "domain", "hosts")} == {
        "event": "preview", "deployment": "production--pr-2", "label": "pr-2",
        "domain": "pr-2.preview.test", "hosts": [t.host.name for t in two]}
    assert get(two[0], "pr-2.preview.test") == "200 v1"
    assert mounts(two[0], "production--pr-2") == ["production--pr-2_pvdata"]
    for target in two:
        assert gone_by_itself(target, "pr-2")
        assert get(target, "pr-2.preview.test") != "200 v1"
        assert served(target) == "200 v1"
        volumes = on(target, "docker", "volume", "ls", "-q").stdout.split()
        assert "pvdata" in volumes and "production--pr-2_pvdata" not in volumes
    assert "previews of production: none" in ok(otter(tmp_path, "status", "production"))
    expires_under_the_lock(tmp_path, two[0])


def expires_under_the_lock(project, target) -> None:
    """Another run holds pr-3's lock when its time is up: the expiry says so and exits 75,
    the preview serves on; the lock released, systemd starts the expiry again and it goes."""
    unit = "otter-expire-production--pr-3.service"
    lock = f"{STATE.format('pr-3')}/lock"
    ok(otter(project, "run", "production", "--preview", "pr-3", "--ttl", "20s",
             "--targets", target.host.name))
    hold = (f"mkdir -p {lock} && printf 'holder=test@ci\\npid=1\\nsince=1\\nrun=test-hold\\n' "
            f"> {lock}/info && date +%s > {lock}/heartbeat")
    assert on(target, "sh", "-c", hold).ok
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the heartbeat kept fresh: the lock is not stale
        assert on(target, "sh", "-c", f"date +%s > {lock}/heartbeat").ok
        journal = on(target, "journalctl", "-u", unit, "--no-pager", "-o", "cat").stdout
        if "locked by another run" in journal:
            break
        time.sleep(2)
    else:
        raise AssertionError("the expiry did not run within 60 s")
    assert "holder=test@ci" in journal
    assert get(target, "pr-3.preview.test") == "200 v1"  # nothing was removed
    assert on(target, "test", "-e", f"{STATE.format('pr-3')}/releases.json").ok
    assert on(target, "rm", "-rf", lock).ok
    assert gone_by_itself(target, "pr-3")  # retried 30 s later, the lock its own
    assert get(target, "pr-3.preview.test") != "200 v1"
    assert served(target) == "200 v1"

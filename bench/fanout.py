"""The controller's upload for a first deploy of a 24 MB image to 1 and to 3 test hosts.

    python bench/fanout.py

Per target count: how many times the controller's Docker engine ran `docker save` (its own
`docker events`), the bytes read from it (saves x archive size), the bytes the targets
received (their eth0 rx counters: the controller's SSH upload, plus a little protocol), and
the deploy's wall time. Fan-out makes the saves one; the upload stays one copy per target.
A last row sends the same image to 3 targets through artifacts.relay (controller -> target1
-> target2, target3; a load only, not a deploy): the upload is near one copy. Needs the test hosts (started here
if they are not up; /var/tmp/otter-testbed, or $OTTER_TESTBED_HOME).
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.deploy import otter, write_app, write_otterfile  # noqa: E402
from tests.testbed.hosts import KEPT, Testbed, exclusive  # noqa: E402

TAG = "otter-bench-fanout:latest"
PAD = 24 * 1024 * 1024
MB = 1024 * 1024


def rx_bytes(target) -> int:
    return int(subprocess.run(["docker", "exec", target.container, "cat",
                               "/sys/class/net/eth0/statistics/rx_bytes"],
                              capture_output=True, text=True, check=True).stdout)


def saves(since: float, until: float) -> int:
    image = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", TAG],
                           capture_output=True, text=True, check=True).stdout.strip()
    found = subprocess.run(["docker", "events", "--since", f"{since:.3f}",
                            "--until", f"{until:.3f}",
                            "--filter", "type=image", "--filter", "event=save",
                            "--filter", f"image={image}", "--format", "{{.ID}}"],
                           capture_output=True, text=True, timeout=60, check=True).stdout
    return len(found.split())


def archive_size() -> int:
    save = subprocess.Popen(["docker", "save", TAG], stdout=subprocess.PIPE)
    size = sum(len(chunk) for chunk in iter(lambda: save.stdout.read(MB), b""))
    save.wait()
    return size


def deploy(bed: Testbed, targets, count: int) -> dict:
    bed.reset(targets)
    project = Path(tempfile.mkdtemp(prefix="otter-bench-fanout-"))
    write_app(project / "app", "bench")
    (project / "app" / "www" / "pad.bin").write_bytes(os.urandom(PAD))
    write_otterfile(project, targets[:count], timeout=30,
                    command=f"docker build -q -t {TAG} .")
    subprocess.run(["docker", "build", "-q", "-t", TAG, str(project / "app")], check=True,
                   capture_output=True)  # built before: the run's acquire finds it cached
    before = [rx_bytes(t) for t in targets[:count]]
    since, started = time.time(), time.monotonic()
    result = otter(project, "run", "production", timeout=600)
    seconds, until = time.monotonic() - started, time.time() + 0.5
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    after = [rx_bytes(t) for t in targets[:count]]
    return {"saves": saves(since, until),
            "upload": sum(a - b for a, b in zip(after, before)), "seconds": seconds}


def relayed(bed: Testbed, targets) -> dict:
    """The same image to 3 targets through artifacts.relay (not the deploy: relay is not
    wired into Deployment yet): the controller sends to target1, which passes it on."""
    from otterfile.artifacts.images import DockerImages
    from otterfile.artifacts.relay import Child, relay_image
    from otterfile.executors import executor_for
    bed.reset(targets)
    image = subprocess.run(["docker", "image", "inspect", "--format", "{{.Id}}", TAG],
                           capture_output=True, text=True, check=True).stdout.strip()
    executors = [executor_for(t.host) for t in targets]
    before = [rx_bytes(t) for t in targets]
    since, started = time.time(), time.monotonic()
    try:
        stream = DockerImages().save(image)
        try:
            missing = relay_image(stream, image, executors[0],
                                  [Child(e, t.name) for e, t in zip(executors[1:], targets[1:])])
        finally:
            stream.close()
    finally:
        for executor in executors:
            executor.close()
    seconds, until = time.monotonic() - started, time.time() + 0.5
    if missing:
        raise SystemExit(f"the relay missed {[c.address for c in missing]}")
    # the controller only talks to target1: what target1 received is the controller's upload
    return {"saves": saves(since, until),
            "upload": rx_bytes(targets[0]) - before[0], "seconds": seconds}


def main() -> None:
    bed = Testbed(KEPT)
    with exclusive():
        targets = bed.targets() if _up(bed) else bed.up()
        rows = {f"{count}": deploy(bed, targets, count) for count in (1, 3)}
        rows["3, relay (load only)"] = relayed(bed, targets)
        bed.reset(targets)
        archive = archive_size()
    print(f"{'targets':<20} {'docker saves':>12} {'read from engine':>16} "
          f"{'controller upload':>17} {'seconds':>8}")
    for name, row in rows.items():
        print(f"{name:<20} {row['saves']:>12} {row['saves'] * archive / MB:>13.1f} MB "
              f"{row['upload'] / MB:>14.1f} MB {row['seconds']:>8.1f}")


def _up(bed: Testbed) -> bool:
    try:
        found = bed.targets()
        bed.wait_ready(found, timeout=10)
        return bool(found)
    except Exception:
        return False


if __name__ == "__main__":
    os.environ.setdefault("APP_TOKEN", "bench")
    main()

"""The controller's upload for a first deploy of a 24 MB image to 1 and to 3 test hosts.

    python bench/fanout.py

Per target count: how many times the controller's Docker engine ran `docker save` (its own
`docker events`), the bytes read from it (saves x archive size), the bytes the targets
received (their eth0 rx counters: the controller's SSH upload, plus a little protocol), and
the deploy's wall time. Fan-out makes the saves one; the upload stays one copy per target.
A last row deploys to 3 targets with relay=True (controller -> target1 -> target2, target3):
the controller's upload (the bytes otter reports sending) is near one copy, while the targets
still receive one copy each. Needs the test hosts (started here if they are not up;
/var/tmp/otter-testbed, or $OTTER_TESTBED_HOME). 10 targets: not measured (the bench's light
hosts run sshd only, no Docker engine).
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

from tests.integration.deploy import USERS_DRAIN, events, otter, write_app, write_otterfile  # noqa: E402
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


def deploy(bed: Testbed, targets, count: int, relay: bool = False) -> dict:
    bed.reset(targets)
    project = Path(tempfile.mkdtemp(prefix="otter-bench-fanout-"))
    write_app(project / "app", "bench")
    (project / "app" / "www" / "pad.bin").write_bytes(os.urandom(PAD))
    write_otterfile(project, targets[:count], timeout=30, drain=USERS_DRAIN,
                    command=f"docker build -q -t {TAG} .")
    if relay:
        path = project / "Otterfile.py"
        path.write_text(path.read_text().replace("parallel=None,", "parallel=None, relay=True,"))
    subprocess.run(["docker", "build", "-q", "-t", TAG, str(project / "app")], check=True,
                   capture_output=True)  # built before: the run's acquire finds it cached
    before = [rx_bytes(t) for t in targets[:count]]
    since, started = time.time(), time.monotonic()
    result = otter(project, "--json", "run", "production", timeout=600)
    seconds, until = time.monotonic() - started, time.time() + 0.5
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    after = [rx_bytes(t) for t in targets[:count]]
    sent = sum(e.get("bytes") or 0 for e in events(result.stdout) if e.get("event") == "info")
    return {"saves": saves(since, until), "sent": sent,
            "upload": sum(a - b for a, b in zip(after, before)), "seconds": seconds}


def main() -> None:
    bed = Testbed(KEPT)
    with exclusive():
        targets = bed.targets() if _up(bed) else bed.up()
        rows = {f"{count}": deploy(bed, targets, count) for count in (1, 3)}
        rows["3, relay=True"] = deploy(bed, targets, 3, relay=True)
        bed.reset(targets)
        archive = archive_size()
    print(f"{'targets':<20} {'docker saves':>12} {'read from engine':>16} "
          f"{'controller upload':>17} {'targets received':>16} {'seconds':>8}")
    for name, row in rows.items():
        print(f"{name:<20} {row['saves']:>12} {row['saves'] * archive / MB:>13.1f} MB "
              f"{row['sent'] / MB:>14.1f} MB {row['upload'] / MB:>13.1f} MB "
              f"{row['seconds']:>8.1f}")


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

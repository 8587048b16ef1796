"""A first deploy and a no-op redeploy to two test hosts: otter against doing it by hand.

    python bench/deploy.py [--rounds 3]

By hand is what a shell script does without otter, per target one after the other:
`docker save IMAGE | ssh HOST docker load`, then `ssh HOST docker run -d -p ...` (no health
gate, no proxy switch, no state). otter does all of that plus lock, health, Caddy and state.
Needs the test hosts (started here if they are not up; /var/tmp/otter-testbed, or $OTTER_TESTBED_HOME).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.deploy import USERS_DRAIN, otter, write_app, write_otterfile  # noqa: E402
from tests.testbed.hosts import KEPT, Testbed, exclusive  # noqa: E402

IMAGE = "otter-it-app:latest"


def by_hand(targets, bed: Testbed, name: str) -> float:
    started = time.monotonic()
    for t in targets:
        ssh = ["ssh", "-i", str(bed.key), "-o", f"UserKnownHostsFile={bed.known_hosts}",
               "-p", str(t.ssh_port), "root@127.0.0.1"]
        save = subprocess.Popen(["docker", "save", IMAGE], stdout=subprocess.PIPE)
        subprocess.run(ssh + ["docker", "load"], stdin=save.stdout, check=True,
                       capture_output=True)
        save.wait()
        subprocess.run(ssh + [f"docker rm -f {name} >/dev/null 2>&1; docker run -d --name "
                              f"{name} --label otter.deployment=bench -p 127.0.0.1:29999:8080 "
                              f"{IMAGE}"], check=True, capture_output=True)
    return time.monotonic() - started


def timed_otter(project: Path) -> float:
    started = time.monotonic()
    result = otter(project, "run", "production")
    if result.returncode != 0:
        raise SystemExit(result.stdout + result.stderr)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    bed = Testbed(KEPT)
    rows: dict[str, list[float]] = {k: [] for k in (
        "otter first deploy", "otter no-op redeploy", "by hand: save|load + run",
        "by hand again (no skip)")}
    with exclusive():
        targets = bed.up() if not _up(bed) else bed.targets()
        two = targets[:2]
        project = Path(tempfile.mkdtemp(prefix="otter-bench-"))
        write_app(project / "app", "bench")
        write_otterfile(project, two, drain=USERS_DRAIN)
        for _ in range(rounds):
            bed.reset(targets)
            rows["otter first deploy"].append(timed_otter(project))
            rows["otter no-op redeploy"].append(timed_otter(project))
            bed.reset(targets)
            rows["by hand: save|load + run"].append(by_hand(two, bed, "bench-app"))
            rows["by hand again (no skip)"].append(by_hand(two, bed, "bench-app"))
        bed.reset(targets)
    print(f"{'two targets, 2 MB image':<28} {'median':>8} {'min':>8} {'max':>8}")
    for name, values in rows.items():
        print(f"{name:<28} {statistics.median(values):7.2f}s {min(values):7.2f}s "
              f"{max(values):7.2f}s")


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

"""Only the missing layers: bytes and time of a first deploy of a ~32 MB image (whole) and
of a release that changes one small layer, on the three test hosts; beside them the same
change sent whole by hand (`docker save | ssh docker load`), as every deploy did before.

    python3 bench/layers.py [--runtime docker|podman] [--rounds N]

It takes the test hosts' lock (it waits while a test session holds them), resets them
before each round and at the end, and never starts, stops or recreates them: start them
first (`python3 -m tests.testbed up`, or a test session with OTTER_TESTBED_KEEP=1). Its
images are built on the controller (labelled otter.test=1) and removed at the end.
Seconds are the wall time of the whole command; bytes are what otter said it sent to each
target and what each target's eth0 received (SSH and the rest of the deploy included).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.integration.deploy import USERS_DRAIN, events, otter, write_app, write_otterfile  # noqa: E402
from tests.testbed.hosts import KEPT, Testbed, exclusive, parallel, run  # noqa: E402
from tests.testbed.images import target_tag  # noqa: E402

TAG = "otter-bench-layers:latest"
BIG = 30 * 1024 * 1024


def received(bed: Testbed, targets) -> list[int]:
    return parallel(lambda t: int(run(bed.ssh_argv(
        t, "cat", "/sys/class/net/eth0/statistics/rx_bytes"), check=True).stdout), targets)


def timed(bed: Testbed, targets, action) -> tuple[float, list[int], object]:
    """Seconds, bytes each target received, and what `action` returned."""
    before = received(bed, targets)
    started = time.monotonic()
    out = action()
    seconds = time.monotonic() - started
    return seconds, [a - b for a, b in zip(received(bed, targets), before)], out


def said(result: subprocess.CompletedProcess) -> tuple[list[int], float]:
    """Bytes otter said it sent to each target, and its slowest ship stage's seconds."""
    if result.returncode != 0:
        raise SystemExit(f"otter failed:\n{result.stdout}\n{result.stderr}")
    found = events(result.stdout)
    return ([e["bytes"] for e in found if e.get("stage") == "ship" and "bytes" in e],
            max(e["seconds"] for e in found
                if e.get("stage") == "ship" and e.get("event") == "end"))


def by_hand(bed: Testbed, targets, engine: str) -> None:
    """The image sent whole to every target at once: docker save | ssh ENGINE load."""
    def send(t) -> None:
        save = subprocess.Popen(["docker", "save", TAG], stdout=subprocess.PIPE)
        load = subprocess.run(bed.ssh_argv(t, engine, "load"), stdin=save.stdout,
                              capture_output=True, timeout=600)
        save.stdout.close()
        if save.wait() or load.returncode:
            raise SystemExit(f"{t.name}: by hand failed: {load.stderr.decode()}")
    parallel(send, targets)


def one_round(bed: Testbed, targets, runtime: str, folder: Path,
              made: list[str]) -> list[tuple]:
    """One first deploy, one one-layer change and the same by hand; `made` gets the ids of
    the images built (to remove)."""
    bed.reset(targets)
    app = write_app(folder / "app", "v1")
    (app / "big.bin").write_bytes(os.urandom(BIG))
    (app / "Dockerfile").write_text((app / "Dockerfile").read_text().replace(
        "COPY www/", "COPY big.bin /data/big.bin\nCOPY www/"))
    write_otterfile(folder, targets, runtime=runtime, drain=USERS_DRAIN,
                    command=f"docker build -q -t {TAG} .")
    rows = []
    seconds, moved, result = timed(bed, targets, lambda: otter(folder, "--json", "run",
                                                               "production", timeout=900))
    made.append(run(["docker", "image", "inspect", "-f", "{{.Id}}", TAG]).stdout.strip())
    size = int(run(["docker", "image", "inspect", "-f", "{{.Size}}", TAG]).stdout)
    rows.append((f"first deploy (whole image: {size / 1e6:.1f} MB)", seconds, *said(result),
                 moved))
    (app / "www" / "index.html").write_text("v2\n")
    seconds, moved, result = timed(bed, targets, lambda: otter(folder, "--json", "run",
                                                               "production", timeout=900))
    rows.append(("one-layer change (missing layers only)", seconds, *said(result), moved))
    made.append(run(["docker", "image", "inspect", "-f", "{{.Id}}", TAG]).stdout.strip())
    seconds, moved, _ = timed(bed, targets, lambda: by_hand(bed, targets, runtime))
    rows.append((f"the same change by hand: docker save \\| ssh {runtime} load", seconds,
                 [], seconds, moved))
    return rows


def mb(values: list[int]) -> str:
    return ", ".join(f"{v / 1e6:.2f}" for v in values) if values else "-"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runtime", choices=["docker", "podman"], default="docker")
    parser.add_argument("--rounds", type=int, default=1)
    args = parser.parse_args(argv)
    bed = Testbed(KEPT, image=target_tag())
    rows: list[tuple] = []
    made: list[str] = []
    with exclusive(), tempfile.TemporaryDirectory(prefix="otter-bench-layers-") as tmp:
        targets = bed.targets()
        bed.wait_ready(targets, timeout=30)
        try:
            for n in range(args.rounds):
                rows += one_round(bed, targets, args.runtime, Path(tmp) / str(n), made)
        finally:
            bed.reset(targets)
            if made:  # both versions (v1 is untagged by then) and their build layers
                run(["docker", "rmi", "-f", *filter(None, made)])
    print(f"{args.runtime}, {len(targets)} targets, {args.rounds} round(s)\n")
    print("| case | whole run s | ship stage s (slowest target) | otter sent per target (MB) "
          "| received per target (MB) |")
    print("| --- | ---: | ---: | --- | --- |")
    for case, seconds, sent, ship, moved in rows:
        print(f"| {case} | {seconds:.1f} | {ship:.2f} | {mb(sent)} | {mb(moved)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

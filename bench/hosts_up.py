"""How long the test hosts take to come up: from nothing (no images) and warm.

    python bench/hosts_up.py            # cold, warm, and the smoke tests' run time
    python bench/hosts_up.py --no-cold  # keep the images; warm start and tests only

Cold removes the testbed images (base and target) first, so it rebuilds with mmdebstrap;
it needs the Debian mirror. Each phase is printed as `name: seconds`.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.testbed.hosts import Testbed, exclusive  # noqa: E402
from tests.testbed.images import ensure_images, remove_images, target_tag  # noqa: E402


def timed(name: str, function, *args):
    started = time.monotonic()
    value = function(*args)
    print(f"{name}: {time.monotonic() - started:.1f}s", flush=True)
    return value


def bring_up(workdir: Path, label: str) -> None:
    image = timed(f"{label} images", ensure_images)
    testbed = Testbed(workdir, image=image)
    timed(f"{label} hosts up (compose up + boot + ssh/docker/caddy answer)", testbed.up)
    timed(f"{label} hosts down", testbed.down)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-cold", action="store_true", help="skip the rebuild from nothing")
    parser.add_argument("--no-tests", action="store_true", help="skip the smoke tests' timing")
    args = parser.parse_args()
    with exclusive(), tempfile.TemporaryDirectory(prefix="otter-bench-") as tmp:
        workdir = Path(tmp)
        Testbed(workdir, image=target_tag()).make_key()
        Testbed(workdir, image=target_tag()).down()  # nothing of ours may hold the images
        if not args.no_cold:
            remove_images()
            started = time.monotonic()
            bring_up(workdir, "cold")
            print(f"cold total: {time.monotonic() - started:.1f}s")
        started = time.monotonic()
        bring_up(workdir, "warm")
        print(f"warm total: {time.monotonic() - started:.1f}s")
    if not args.no_tests:  # after the lock: the test session takes it itself
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "tests/integration/test_hosts.py"], cwd=ROOT, check=True)
        print(f"pytest tests/integration/test_hosts.py: {time.monotonic() - started:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())

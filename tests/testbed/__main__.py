"""Test hosts by hand, outside pytest.

    python -m tests.testbed up      # (or tests.testbed.hosts up) build images if needed, start the hosts, wait, print ssh lines
    python -m tests.testbed env     # the compose variables, for docker-compose by hand
    python -m tests.testbed down

Key and known_hosts live in /var/tmp/otter-testbed, or $OTTER_TESTBED_HOME (the same as OTTER_TESTBED_KEEP=1).
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .hosts import KEPT, Testbed, exclusive
from .images import target_tag


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["up", "down", "env"])
    parser.add_argument("--workdir", default=str(KEPT), help="key and known_hosts")
    args = parser.parse_args(argv)
    testbed = Testbed(Path(args.workdir), image=None if args.action == "up" else target_tag())
    if args.action == "env":
        testbed.make_key()
        for name, value in testbed.env.items():
            print(f"export {name}={value}")
    elif args.action == "down":
        testbed.make_key()
        with exclusive():
            testbed.down()
    else:
        started = time.monotonic()
        with exclusive():
            targets = testbed.up()
        for t in targets:
            print(f"{t.name}: ssh -i {testbed.key} -o UserKnownHostsFile={testbed.known_hosts} "
                  f"-p {t.ssh_port} root@127.0.0.1   http: {t.url()}")
        print(f"ready in {time.monotonic() - started:.1f}s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/bin/sh
# The whole test suite: set up the machine (packages, Docker engine, the project), mypy over
# the package, then unit and integration tests against real sshd and the Docker test hosts.
# The files are shared among OTTER_TEST_WORKERS pytest-xdist workers (default 3), each with its own set of
# three test hosts (tests/conftest.py); OTTER_TEST_WORKERS=0 runs them in this one process.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
# the types first: 0 errors over the package at --strict (setup.cfg's [mypy]), else the run fails
python3 -m mypy otterfile
workers=${OTTER_TEST_WORKERS:-3}
if [ "$workers" -gt 0 ]; then
    exec python3 -m pytest -p no:cacheprovider -q -n "$workers" --dist loadfile "$@"
fi
exec python3 -m pytest -p no:cacheprovider -q "$@"

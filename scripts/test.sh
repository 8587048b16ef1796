#!/bin/sh
# The whole test suite: set up the machine (packages, Docker engine, the project), mypy over
# the package, the docs site (mkdocs --strict), then unit and integration tests against real
# sshd and the Docker test hosts.
# The files are shared among OTTER_TEST_WORKERS pytest-xdist workers (default 3), each with its own set of
# three test hosts (tests/conftest.py); OTTER_TEST_WORKERS=0 runs them in this one process.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
# the types first: 0 errors over the package at --strict (setup.cfg's [mypy]), else the run fails
python3 -m mypy otterfile
# the docs site builds without a warning (a broken link or anchor fails), into a folder thrown
# away; not --quiet: it hides the warnings from --strict, which then passes
site=$(mktemp -d)
python3 -m mkdocs build --strict --site-dir "$site"
rm -rf "$site"
workers=${OTTER_TEST_WORKERS:-3}
if [ "$workers" -gt 0 ]; then
    exec python3 -m pytest -p no:cacheprovider -q -n "$workers" --dist loadfile "$@"
fi
exec python3 -m pytest -p no:cacheprovider -q "$@"

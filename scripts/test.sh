#!/bin/sh
# The whole test suite: set up the machine (packages, Docker engine, the project), then unit and
# integration tests against real sshd and the Docker test hosts. mypy over the package (0 errors
# at --strict, setup.cfg's [mypy]) and the docs site's build (mkdocs --strict: a broken link or
# anchor fails) are tests too (tests/unit/test_typing.py, test_docs.py): they run beside the
# integration tests instead of before them, and a failure fails the run all the same.
# The files are shared among OTTER_TEST_WORKERS pytest-xdist workers (default 3), each with its own set of
# three test hosts (tests/conftest.py); OTTER_TEST_WORKERS=0 runs them in this one process.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
workers=${OTTER_TEST_WORKERS:-3}
if [ "$workers" -gt 0 ]; then
    # the files start in tests/conftest.py's order (integration first), not xdist's own
    exec python3 -m pytest -p no:cacheprovider -q -n "$workers" --dist loadfile \
        --no-loadscope-reorder "$@"
fi
exec python3 -m pytest -p no:cacheprovider -q "$@"

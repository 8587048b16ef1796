#!/bin/sh
# The whole test suite: set up the machine (packages, Docker engine, the project), then
# unit and integration tests against real sshd and the Docker test hosts.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
exec python3 -m pytest -p no:cacheprovider -q "$@"

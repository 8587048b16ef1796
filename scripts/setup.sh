#!/bin/sh
# Host setup for otter's tests: Debian packages, the project with its test extras, and a
# running Docker engine. Idempotent; a warm run (everything present) takes about a second.
#   scripts/setup.sh            # as root on Debian 12
#   OTTER_SETUP_SKIP_PIP=1 ...  # leave the Python environment alone
set -eu

cd "$(dirname "$0")/.."

# unzip, zstd: the systemd runtime's archives unpacked locally by the unit tests
PACKAGES="docker.io docker-compose mmdebstrap openssh-client openssh-server busybox-static
git caddy nginx-light libnginx-mod-http-js curl ca-certificates iptables wrk shellcheck strace
openssl unzip zstd"
DOCKERD_LOG=${OTTER_DOCKERD_LOG:-/var/log/otter-dockerd.log}
DOCKERD_WAIT=${OTTER_DOCKERD_WAIT:-60}

log() { printf 'setup: %s\n' "$*" >&2; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
    SUDO="sudo"
fi

missing_packages() {
    for pkg in $PACKAGES; do
        status=$(dpkg-query -W -f '${Status}' "$pkg" 2>/dev/null || true)
        [ "$status" = "install ok installed" ] || printf '%s ' "$pkg"
    done
}

install_packages() {
    missing=$(missing_packages)
    if [ -z "$missing" ]; then
        return
    fi
    log "installing: $missing"
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086  # word splitting of the package list is wanted
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing
}

install_project() {
    if [ "${OTTER_SETUP_SKIP_PIP:-}" = 1 ]; then
        return
    fi
    # A warm run skips pip when the project and its test extras already import.
    if python3 -I -c '
import os, sys
import httpx, mkdocs, mypy, pytest, pytest_docker, rich, xdist, otterfile
sys.exit(not os.path.realpath(otterfile.__file__).startswith(sys.argv[1] + os.sep))
' "$(pwd -P)" 2>/dev/null; then
        return
    fi
    log "pip install -e '.[test]'"
    python3 -m pip install -q -e '.[test]'
}

# Every test host runs its own systemd, and each systemd takes inotify instances from one
# machine-wide budget (Debian's default 128 runs out near ten hosts: units fail at boot).
raise_inotify() {
    limit=$(cat /proc/sys/fs/inotify/max_user_instances 2>/dev/null || echo 0)
    if [ "$limit" -lt 1024 ]; then
        log "raising fs.inotify.max_user_instances from $limit to 1024 (test hosts run systemd)"
        $SUDO sysctl -q -w fs.inotify.max_user_instances=1024 || log "could not raise it"
    fi
}

start_dockerd() {
    if docker info >/dev/null 2>&1; then
        return
    fi
    if ! pgrep -x dockerd >/dev/null 2>&1; then
        log "starting dockerd (log: $DOCKERD_LOG)"
        # setsid: the engine outlives this script and the CI step's process group.
        $SUDO setsid dockerd >>"$DOCKERD_LOG" 2>&1 </dev/null &
    fi
    waited=0
    until docker info >/dev/null 2>&1; do
        if [ "$waited" -ge "$DOCKERD_WAIT" ]; then
            log "dockerd did not answer within ${DOCKERD_WAIT}s; last lines of $DOCKERD_LOG:"
            tail -n 20 "$DOCKERD_LOG" >&2 || true
            exit 1
        fi
        sleep 1
        waited=$((waited + 1))
    done
    log "dockerd ready after ${waited}s"
}

install_packages
install_project
raise_inotify
start_dockerd

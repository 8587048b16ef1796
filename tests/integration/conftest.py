"""Session fixtures: the real test hosts of tests/docker-compose.yml, started with pytest-docker.

    def test_something(clean_targets):            # every host pristine, booted, answering
        for t in clean_targets:
            executor_for(t.host).run(cmd("docker", "ps"))

OTTER_TESTBED_KEEP=1 keeps the hosts running after the session and reuses them in the next
one (key and known_hosts in /var/tmp/otter-testbed, or $OTTER_TESTBED_HOME): a faster edit loop.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import Callable, Iterator

import pytest

from tests.testbed.app import build_app_image
from tests.testbed.hosts import (COMPOSE_FILE, KEPT, PROJECT, Testbed, TestTarget, exclusive,
                                  scoped)

KEEP = os.environ.get("OTTER_TESTBED_KEEP") == "1"
# Tests inject faults (a host paused, cut off, restarted) between otter commands and share
# hosts between sessions: each command connects afresh, as before masters were kept.
# tests/integration/test_ssh_persist.py turns keeping on where it tests it.
os.environ.setdefault("OTTER_SSH_PERSIST", "0")


@pytest.fixture(scope="session")
def docker_compose_command() -> str:
    return "docker-compose"  # v1: the only compose on these machines


@pytest.fixture(scope="session")
def docker_compose_file() -> str:
    return str(COMPOSE_FILE)


@pytest.fixture(scope="session")
def docker_compose_project_name() -> str:
    return PROJECT


@pytest.fixture(scope="session")
def testbed(tmp_path_factory) -> Iterator[Testbed]:
    """Images built (if their recipe changed), session key made, compose variables set."""
    if subprocess.run(["docker", "info"], capture_output=True).returncode != 0:
        pytest.fail("no Docker engine answers: run scripts/setup.sh first")
    bed = Testbed(KEPT if KEEP else tmp_path_factory.mktemp("testbed"))
    bed.make_key()
    with exclusive(), pytest.MonkeyPatch.context() as patch:  # compose calls read the env
        for name, value in bed.env.items():
            patch.setenv(name, value)
        yield bed


@pytest.fixture(scope="session")
def docker_setup(testbed: Testbed) -> list[str]:
    # --force-recreate: fresh hosts (and host keys) even if a crashed session left some.
    return ["up -d --remove-orphans" if KEEP else "up -d --force-recreate --remove-orphans"]


@pytest.fixture(scope="session")
def docker_cleanup(testbed: Testbed) -> list[str]:
    return [] if KEEP else ["down -v --remove-orphans"]


@pytest.fixture(scope="session")
def targets(testbed: Testbed, docker_services) -> list[TestTarget]:
    """All test hosts, booted and answering (SSH, systemd, docker, caddy); session-wide."""
    found = testbed.targets()
    if KEEP:  # reused hosts carry the last session's deployments (and maybe Caddy stopped)
        testbed.reset(found)
    testbed.wait_ready(found)
    return found


@pytest.fixture(scope="session")
def target(targets: list[TestTarget]) -> TestTarget:
    return targets[0]


@pytest.fixture
def clean_targets(testbed: Testbed, targets: list[TestTarget]) -> list[TestTarget]:
    """All hosts reset to pristine before the test (faults undone, otter's traces removed)."""
    testbed.reset(targets)
    return targets


@pytest.fixture
def clean_target(testbed: Testbed, targets: list[TestTarget]) -> TestTarget:
    testbed.reset(targets[:1])
    return targets[0]


@dataclass(frozen=True)
class AppImage:
    tag: str
    id: str


@pytest.fixture(scope="session")
def app_image() -> Iterator[Callable[..., AppImage]]:
    """Build a test app image on the controller: app_image("v1", healthy=False, tag=...)."""
    built: list[str] = []

    def make(version_text: str, *, tag: str | None = None, **options) -> AppImage:
        tag = tag or scoped("otter-test-app") + ":" + (re.sub(r"[^a-z0-9_.-]+", "-", version_text.lower())
                                          .strip("-.")[:100] or "app")
        image = AppImage(tag, build_app_image(tag, version_text, **options))
        built.append(tag)
        return image

    yield make
    if built:
        subprocess.run(["docker", "rmi", "--no-prune", "--force", *set(built)], capture_output=True)


@pytest.fixture
def two(clean_targets: list[TestTarget]) -> list[TestTarget]:
    """Two pristine hosts: what most deploy tests deploy to."""
    return clean_targets[:2]


@pytest.fixture
def project(tmp_path, two):
    """A folder with the test app at v1 and an Otterfile deploying it to `two`."""
    from tests.integration.deploy import write_app, write_otterfile
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, two)
    return tmp_path

"""The test hosts' Docker storage (tests/testbed/hosts.py): vfs as the image has it, or
overlay2 on a volume per target (tests/docker-compose.overlay2.yml) for the benches that time
Docker's load and start as on a real server."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.testbed.hosts import COMPOSE_FILE, Testbed

pytestmark = pytest.mark.unit
OVERLAY = COMPOSE_FILE.with_name("docker-compose.overlay2.yml")


def services(path: Path) -> list[str]:
    return re.findall(r"^  (target\d+):", path.read_text(), re.M)


def test_overlay2_adds_its_compose_file_and_vfs_does_not(tmp_path):
    bed = Testbed(tmp_path, image="x")
    assert bed.compose_argv("up", storage="vfs") == [
        "docker-compose", "-f", str(COMPOSE_FILE), "-p", bed.project, "up"]
    assert bed.compose_argv("up", storage="overlay2") == [
        "docker-compose", "-f", str(COMPOSE_FILE), "-f", str(OVERLAY), "-p", bed.project, "up"]


def test_every_target_gets_overlay2_and_the_engine_is_told_so():
    assert services(OVERLAY) == services(COMPOSE_FILE) == ["target1", "target2", "target3"]
    daemon = (COMPOSE_FILE.parent / "testbed" / "overlay2" / "daemon.json").read_text()
    image = (COMPOSE_FILE.parent / "testbed" / "recipe" / "files" / "etc" / "docker"
             / "daemon.json").read_text()
    assert '"storage-driver": "overlay2"' in daemon
    assert daemon.replace("overlay2", "vfs") == image  # the rest as the image has it

"""ship_image decisions against a recording target: skip, tag, clear errors. No docker."""
from __future__ import annotations

import subprocess

import pytest

from otterfile.acquire import Artifact
from otterfile.commands import image as images
from otterfile.errors import OtterError
from otterfile.executors.recording import RecordingExecutor
from otterfile.ship import ShipResult, ship_image

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "a" * 64
ARTIFACT = Artifact("image", DIGEST, image="app:1", commit="c" * 40, ref="main", source="/r")


@pytest.mark.parametrize("answer", ["present\n", "tagged\n"])
def test_target_with_the_image_id_is_skipped_in_one_round_trip(answer):
    target = RecordingExecutor(responses={"docker": answer})
    result = ship_image(ARTIFACT, target)
    assert result.shipped is False and result.bytes == 0 and isinstance(result, ShipResult)
    assert [c.argv for c in target.commands] == [images.probe(DIGEST, "app:1").argv]


def test_probe_script_checks_id_and_tags_it(tmp_path):
    """Run the probe script against a fake `docker` to see each branch."""
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\necho "$*" >> "$LOG"\n'
                    'case "$*" in *"inspect --format {{.Id}} app:1") echo "$TAG_ID";;\n'
                    '*"inspect --format {{.Id}} sha256:"*) [ -n "$HAVE_ID" ] || exit 1;;\n'
                    'esac\n')
    fake.chmod(0o755)

    def probe(tag_id: str, have_id: str) -> tuple[str, str]:
        log = tmp_path / f"log{tag_id}{have_id}"
        env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "LOG": str(log), "TAG_ID": tag_id,
               "HAVE_ID": have_id}
        out = subprocess.run(images.probe(DIGEST, "app:1").argv_values(), env=env,
                             capture_output=True, text=True, check=True).stdout.strip()
        return out, log.read_text()

    assert probe(DIGEST, "")[0] == "present"
    out, log = probe("sha256:other", "yes")
    assert out == "tagged" and f"tag {DIGEST} app:1" in log
    assert probe("", "")[0] == "missing"


def test_target_without_docker_is_a_clear_error():
    target = RecordingExecutor(responses={"docker": 127})
    with pytest.raises(OtterError, match="cannot look for image app:1 on local"):
        ship_image(ARTIFACT, target)


def test_a_file_artifact_is_not_an_image():
    with pytest.raises(OtterError, match="not an image"):
        ship_image(Artifact("file", "ab", source="/r"), RecordingExecutor())

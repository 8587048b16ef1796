"""image(REF) on real test hosts over real SSH: an image the controller's Docker engine has
already (here `docker build` made it, under this slot's tag), deployed without a registry and
without otter building it. A missing image stops the run before any server changes; once
built, it ships to both targets and serves; a second run with the image unchanged is a
no-op; the tag moved to a new build ships only its new layer and is a new release."""
from __future__ import annotations

import re
import subprocess

import pytest

from tests.integration.deploy import events, on, otter, served, write_otterfile
from tests.testbed.app import build_app_image
from tests.testbed.hosts import scoped

pytestmark = pytest.mark.integration

TAG = scoped("otter-it-image-source:1")
BUILD_LINE = re.compile(r"build\(.*\)\n")


@pytest.fixture
def tagged():
    """This slot's tag, absent before the test and removed after it."""
    subprocess.run(["docker", "rmi", "--no-prune", "--force", TAG], capture_output=True)
    yield TAG
    subprocess.run(["docker", "rmi", "--no-prune", "--force", TAG], capture_output=True)


def running_digests(target) -> list[str]:
    """The otter.digest label of each container of the deployment on `target`."""
    listed = on(target, "docker", "ps", "--filter", "label=otter.deployment=production",
                "--format", '{{.Label "otter.digest"}}')
    assert listed.ok, listed.stderr
    return listed.stdout.split()


def test_deploy_an_image_from_the_controllers_engine(tmp_path, two, tagged):
    path = write_otterfile(tmp_path, two)  # the tests' Otterfile, its build(...) swapped
    path.write_text(BUILD_LINE.sub(f"image({tagged!r})\n", path.read_text(), count=1))
    assert f"image({tagged!r})" in path.read_text()

    missing = otter(tmp_path, "run", "production")
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert f"artifact web of production: image({tagged!r}): the controller's Docker engine " \
        "has no such image" in missing.stdout
    for t in two:  # refused before any server was touched
        assert not on(t, "test", "-e", "/var/lib/otter/production").ok

    first_id = build_app_image(tagged, "v1")  # `docker build -t TAG` on the controller
    first = otter(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [served(t) for t in two] == ["200 v1"] * 2
    assert [running_digests(t) for t in two] == [[first_id]] * 2  # its image id, the digest

    again = otter(tmp_path, "run", "production")
    assert again.returncode == 0 and "nothing to do" in again.stdout, again.stdout
    assert [running_digests(t) for t in two] == [[first_id]] * 2

    second_id = build_app_image(tagged, "v2")  # the tag moved: a new image id, a new release
    assert second_id != first_id
    checked = otter(tmp_path, "--json", "plan", "production", "--check")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    found = [e for e in events(checked.stdout) if e.get("event") == "check"]
    # as for a built image: only the layer v2 changed moves, beside the live release
    assert [(f["artifact"]["moves"], f["artifact"]["layers_missing"], f["release"]["action"])
            for f in found] == [("layers", 1, "new")] * 2, found
    second = otter(tmp_path, "run", "production")
    assert second.returncode == 0, second.stdout + second.stderr
    assert [served(t) for t in two] == ["200 v2"] * 2
    assert [running_digests(t) for t in two] == [[second_id]] * 2

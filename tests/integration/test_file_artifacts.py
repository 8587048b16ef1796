"""A built `docker save` archive is a file artifact that ships as the image it holds."""
from __future__ import annotations

import pytest

from tests.integration.deploy import events, otter, served, write_app, write_otterfile
from tests.testbed.hosts import scoped

ARCHIVE_TAG = scoped("otter-it-archive:1")
COMMAND = f"docker build -q -t {ARCHIVE_TAG} . && docker save {ARCHIVE_TAG} -o app.tar"


@pytest.mark.parametrize("runtime", ["docker", "podman"])
def test_a_built_archive_deploys_as_its_image_and_ships_once(tmp_path, two, runtime):
    write_app(tmp_path / "app", "from-archive")
    write_otterfile(tmp_path, two, source='path="app", output="app.tar"', command=COMMAND,
                    runtime=runtime)
    first = otter(tmp_path, "--json", "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [served(t) for t in two] == ["200 from-archive"] * 2
    sent = [e for e in events(first.stdout) if e.get("stage") == "ship"
            and str(e.get("message", "")).startswith("sent ")]
    assert len(sent) == 2
    (tmp_path / "Otterfile.py").write_text((tmp_path / "Otterfile.py").read_text().replace(
        '"GREETING": "hello"', '"GREETING": "again"'))  # a new release, the same artifact
    again = otter(tmp_path, "--json", "run", "production")
    assert again.returncode == 0, again.stdout + again.stderr
    messages = [e.get("message") for e in events(again.stdout) if e.get("stage") == "ship"]
    assert messages.count("artifact already there") == 2  # no byte moved

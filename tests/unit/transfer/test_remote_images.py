"""build(on=TARGET): the commands a build host's image store runs, on= checked against the
Otterfile's targets, the plan showing the build on that host, the engine's choice of store."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from otterfile.transfer.images import DockerImages
from otterfile.transfer.remote_images import RemoteImages, image_id_of_manifest
from otterfile.cli import main
from otterfile.errors import OtterError
from otterfile.load.evaluate import evaluate
from otterfile.executors.base import Result
from otterfile.executors.local import LocalExecutor
from otterfile.executors.streams import Stream
from otterfile.hosts import ssh
from otterfile.load.loader import load
from otterfile.run.engines import real_engine

ID = "sha256:" + "ab" * 32


class FakeHost:
    """Answers `image inspect` and `stat`; records every command and stream it opens."""

    host = ssh("root@builder")

    def __init__(self, inspected: dict | None = None):
        self.inspected, self.ran, self.streamed = inspected, [], []

    def run(self, command, **_):
        self.ran.append(command.argv_values())
        argv = command.argv_values()
        if argv[:3] == ["docker", "image", "inspect"]:
            found = json.dumps(self.inspected) + "\n" if self.inspected else ""
            return Result(command, 0 if found else 1, found)
        return Result(command, 0, "1234\n")

    def open_stream(self, command):
        self.streamed.append(command.argv_values())
        return io.BytesIO(b"archive")


INSPECT = {"Id": ID, "Size": 2048, "RootFS": {"Layers": ["sha256:" + "01" * 32]}}


def test_one_inspect_answers_id_size_and_layers():
    host = FakeHost(INSPECT)
    images = RemoteImages(host)
    assert images.image_id("app:latest") == ID
    assert images.size(ID) == 2048 and images.layers(ID) == ["sha256:" + "01" * 32]
    assert host.ran == [["docker", "image", "inspect", "--format", "{{json .}}", "--",
                         "app:latest"]]


def test_no_such_image_is_none_and_save_refuses():
    images = RemoteImages(FakeHost(None))
    assert images.image_id("app:latest") is None
    with pytest.raises(OtterError, match="docker save .* failed on builder: no such"):
        images.save(ID)


def test_save_and_open_file_stream_from_the_build_host():
    host = FakeHost(INSPECT)
    images = RemoteImages(host)
    assert images.save(ID).read() == b"archive"
    stream, size = images.open_file(Path("/var/cache/otter/build/artifacts/sha256/ff"))
    assert size == 1234 and stream.read() == b"archive"
    assert host.streamed == [["docker", "save", ID],
                             ["cat", "--", "/var/cache/otter/build/artifacts/sha256/ff"]]
    assert host.ran[-1][:2] == ["sh", "-c"]  # the size, asked before the stream


def test_manifest_of_a_docker_save_archive():
    assert image_id_of_manifest(json.dumps([{"Config": "ab" * 32 + ".json"}])) == ID
    assert image_id_of_manifest(json.dumps([{"Config": "blobs/sha256/" + "ab" * 32}])) == ID
    assert image_id_of_manifest("not json") is None
    assert image_id_of_manifest(json.dumps([{}, {}])) is None


def test_a_stream_reads_a_process_and_reports_its_failure():
    with Stream(["sh", "-c", "printf hello"], "builder", "say hello") as stream:
        assert stream.read() == b"hello"
    failing = Stream(["sh", "-c", "echo no such image >&2; exit 1"], "builder", "save app")
    assert failing.read() == b""
    with pytest.raises(OtterError, match=r"save app on builder failed \(exit 1\): no such"):
        failing.close()


def test_a_stream_given_up_early_is_stopped_without_an_error():
    stream = Stream(["sh", "-c", "yes"], "builder", "yes")
    assert stream.read(3) == b"y\ny"
    stream.close()  # terminated: the reader gave up, so no failure of the process


FILE = '''
from otterfile import *

@artifact
def web():
    return build(repo={repo!r}, ref="main", command="docker build -t app .", {on})

@target("builder")
def builder():
    return ssh("root@builder")

@target
def pair():
    return [ssh("root@a"), ssh("root@b")]

@deployment
def production():
    return Deployment(artifact=web, runtime=docker(port=80), targets=[pair])
'''


def write(tmp_path, on: str, repo: str = "https://git.test/app.git") -> Path:
    file = tmp_path / "Otterfile.py"
    file.write_text(FILE.format(repo=repo, on=on))
    return file


@pytest.mark.parametrize("on, repo, message", [
    ('on="nowhere"', "https://git.test/app.git",
     r":4: artifact web/on: unknown target 'nowhere'; known: builder, pair"),
    ('on="pair"', "https://git.test/app.git",
     r":4: artifact web/on: target 'pair' is a group of 2 hosts"),
    ('on=3', "https://git.test/app.git", r"artifact web/on: expected a target name"),
    ('on="builder"', "app", r"artifact web/repo: 'app' is relative to the controller"),
    ('via="url"', "https://git.test/app.git", r"artifact web/via: .*give on=TARGET"),
    ('on="builder", via="ftp"', "https://git.test/app.git", r"artifact web/via: expected one"),
])
def test_bad_on_exits_2_naming_the_file_and_line(tmp_path, on, repo, message):
    file = write(tmp_path, on, repo)
    result = CliRunner().invoke(main, ["-f", str(file), "run", "production"], env={})
    assert result.exit_code == 2, result.output
    assert result.output.startswith(f"error: {file}:"), result.output
    assert re.search(message, result.output), result.output
    assert not (tmp_path / ".otter").exists()


def test_on_names_the_one_host_of_a_target_given_by_function(tmp_path):
    file = write(tmp_path, "on=builder")
    project = evaluate(load(file))
    assert project.artifacts["web"].source.on == "builder"


def test_via_url_serves_files_only(tmp_path):
    file = write(tmp_path, 'on="builder", via="url"')
    result = CliRunner().invoke(main, ["-f", str(file), "run", "production"], env={})
    assert result.exit_code == 2, result.output
    assert "via=\"url\") of an image is not supported" in result.output
    assert evaluate(load(write(tmp_path, 'on="builder", via="url", output="app.tgz"'))) \
        .deployments["production"].unsupported is None


def test_plan_shows_the_build_on_the_build_host(tmp_path):
    file = write(tmp_path, 'on="builder"')
    result = CliRunner().invoke(main, ["-f", str(file), "plan", "production"], env={})
    assert result.exit_code == 0, result.output
    built = result.output.split("\na:")[0]
    assert built.startswith("builder:\n  acquire\n"), result.output
    assert "$ make /var/cache/otter/build" in built
    assert "cd /var/cache/otter/build/builds/app-" in built
    assert "sh -c 'docker build -t app .'" in built
    assert not (tmp_path / ".otter").exists()


def test_the_engine_ships_from_the_build_hosts_store(tmp_path):
    project = evaluate(load(write(tmp_path, 'on="builder"')))
    engine = real_engine(project, lambda event: None)
    try:
        remote = engine.images_on("builder")  # shared among the targets (fanout)
        assert isinstance(remote.store, RemoteImages)
        assert remote.store.executor.host.name == "builder"
        assert engine.images_on("builder") is remote  # one per host for the run
        assert engine.images_of(engine.lane("production", "a")) is remote
        assert isinstance(engine.images_on(None).store, DockerImages)
    finally:
        engine.close()


def test_a_local_stream_runs_the_command_here():
    from otterfile.command import cmd
    with LocalExecutor().open_stream(cmd("printf", "%s", "local bytes")) as stream:
        assert stream.read() == b"local bytes"


def test_the_readme_example_plans_its_build_on_target3():
    example = Path(__file__).resolve().parents[3] / "examples" / "build-host" / "Otterfile.py"
    result = CliRunner().invoke(main, ["-f", str(example), "plan", "production"], env={})
    assert result.exit_code == 0, result.output
    assert result.output.startswith("builder:\n  acquire\n"), result.output
    assert "git clone" not in result.output.split("127.0.0.1:2201 (production):")[1]

"""The recording executor: what the unit tests' fake targets record and answer."""
from __future__ import annotations

import io

import pytest

from otterfile.command import cmd
from otterfile.executors.base import Result
from otterfile.executors.upload import upload_command
from otterfile.executors.recording import RecordingExecutor, Upload
from otterfile.hosts import LocalHost
from tests.unit.executors.test_local import SECRET

pytestmark = pytest.mark.unit


def test_recording_records_and_answers_exit_zero_by_default():
    ex = RecordingExecutor(LocalHost("box"))
    result = ex.run(cmd("docker", "ps"))
    assert (result.exited, result.stdout, result.host) == (0, "", "box")
    assert ex.commands == [cmd("docker", "ps")]
    assert ex.lines() == ["docker ps"]


def test_recording_responses_by_substring_or_predicate_first_match_wins():
    failed = Result(cmd("x"), 1, stderr="no such image")
    ex = RecordingExecutor(responses={
        "docker images": "myapp:latest\n",
        lambda c: c.argv[:2] == ("docker", "pull"): failed,
        "docker": 3,
    })
    assert ex.run(cmd("docker", "images", "-q")).stdout == "myapp:latest\n"
    pulled = ex.run(cmd("docker", "pull", "myapp"))
    assert (pulled.exited, pulled.stderr, pulled.command) == (1, "no such image",
                                                              cmd("docker", "pull", "myapp"))
    assert ex.run(cmd("docker", "rm", "old")).exited == 3
    assert ex.run(cmd("true")).exited == 0


def test_recording_feeds_canned_output_to_on_output():
    seen = []
    RecordingExecutor(responses={"ls": "a\nb\n"}).run(cmd("ls"),
                                                      on_output=lambda s, l: seen.append((s, l)))
    assert seen == [("stdout", "a"), ("stdout", "b")]


def test_recording_uploads_forwards_and_close_without_reading_files():
    ex = RecordingExecutor()
    ex.upload(io.BytesIO(b"config"), "/etc/app.conf", mode=0o600)
    ex.upload("/does/not/exist.tar", "/srv/app.tar")
    with ex.forward(3000) as port:
        assert port == 3000
    ex.close()
    assert ex.uploads == [Upload("<stream>", "/etc/app.conf", 0o600, b"config"),
                          Upload("/does/not/exist.tar", "/srv/app.tar", 0o644)]
    assert ex.commands[0] == upload_command("/etc/app.conf", 0o600)
    assert ex.forwards == [3000] and ex.closed


def test_recording_http_records_each_get_and_answers_its_status():
    ex = RecordingExecutor(http_status=503)
    with ex.http(20001) as get:
        assert get("/health") == 503
        assert get("/") == 503
    assert [c.argv for c in ex.commands] == [("GET", "http://127.0.0.1:20001/health"),
                                             ("GET", "http://127.0.0.1:20001/")]
    assert ex.lines()[0] == "GET http://127.0.0.1:20001/health" and ex.forwards == [20001]
    with RecordingExecutor().http(80) as get:
        assert get("/") == 200  # the default: healthy


def test_recording_masks_secrets():
    ex = RecordingExecutor()
    ex.run(cmd("login", env={"TOKEN": SECRET}, stdin=SECRET))
    assert "s3cr3t" not in " ".join(ex.lines()) and "***" in ex.lines()[0]

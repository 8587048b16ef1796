"""A build skipped when its inputs did not change (artifacts/build_cache.py): which
commands may be skipped, what changes the key, and that a hit is checked against the tag."""
from __future__ import annotations

import os

import pytest

from otterfile.artifacts import build_cache
from otterfile.executors.recording import RecordingExecutor

pytestmark = pytest.mark.unit

COMMAND = "docker build -q -t app:1 ."
ID = "sha256:" + "b" * 64


@pytest.fixture
def app(tmp_path):
    folder = tmp_path / "app"
    (folder / "www").mkdir(parents=True)
    (folder / "Dockerfile").write_text("FROM scratch\nCOPY www /www\n")
    (folder / "www" / "index.html").write_text("v1\n")
    return folder


def test_the_same_inputs_give_the_same_key(app):
    first = build_cache.key(COMMAND, "app:1", app)
    assert first is not None and build_cache.key(COMMAND, "app:1", app) == first


@pytest.mark.parametrize("change", ["write", "same size", "new file", "mode", "command", "tag"])
def test_a_change_of_any_input_changes_the_key(app, change):
    before = build_cache.key(COMMAND, "app:1", app)
    command, tag = COMMAND, "app:1"
    page = app / "www" / "index.html"
    if change == "write":
        page.write_text("v2, longer\n")
    elif change == "same size":  # same size, its times put back: the change time still moves
        st = os.stat(page)
        page.write_text("v2\n")
        os.utime(page, ns=(st.st_atime_ns, st.st_mtime_ns))
    elif change == "new file":
        (app / "www" / "other.html").write_text("")
    elif change == "mode":
        page.chmod(0o600)
    elif change == "command":
        command = "docker build -t app:1 ."
    else:
        tag = "app:2"
    assert build_cache.key(command, tag, app) != before


def test_an_env_variable_the_command_names_is_an_input(app, monkeypatch):
    command = "docker build -t app:1 --build-arg V=$VERSION ."
    monkeypatch.setenv("VERSION", "1")
    one = build_cache.key(command, "app:1", app)
    monkeypatch.setenv("VERSION", "2")
    assert one is not None and build_cache.key(command, "app:1", app) != one


@pytest.mark.parametrize("command", [
    "make && docker build -t app:1 .",          # something else runs too
    "docker build -t app:1 . | tee log",
    "docker build --pull -t app:1 .",           # asks for a fresh build
    "docker build --no-cache -t app:1 .",
    "docker build -f ../Dockerfile -t app:1 .",  # an input outside the folder
    "docker build --file=/srv/Dockerfile -t app:1 .",
    "docker build -t app:1 ..",
    "docker build -t app:1 https://example.com/repo.git",
    "docker build -t app:1 $(pwd)",
    "./build.sh",
])
def test_what_may_read_more_than_the_folder_is_never_skipped(app, command):
    assert build_cache.key(command, "app:1", app) is None


def test_it_can_be_turned_off(app, monkeypatch):
    monkeypatch.setenv("OTTER_BUILD_CACHE", "0")
    assert build_cache.key(COMMAND, "app:1", app) is None


def test_a_hit_counts_only_while_the_tag_names_the_image_built(app, tmp_path):
    cache, key = tmp_path / "cache", build_cache.key(COMMAND, "app:1", app)
    assert key is not None
    same = RecordingExecutor(responses={"image inspect": ID + "\n"})
    assert build_cache.hit(same, cache, key, "docker", "app:1") is None  # nothing kept yet
    build_cache.keep(cache, key, ID)
    assert build_cache.hit(same, cache, key, "docker", "app:1") == ID
    assert same.commands[-1].argv == ("docker", "image", "inspect", "--format", "{{.Id}}",
                                      "app:1")
    moved = RecordingExecutor(responses={"image inspect": "sha256:" + "c" * 64 + "\n"})
    gone = RecordingExecutor(responses={"image inspect": 1})
    assert build_cache.hit(moved, cache, key, "docker", "app:1") is None
    assert build_cache.hit(gone, cache, key, "docker", "app:1") is None


def test_what_otter_writes_beside_the_otterfile_is_no_input(app):
    ours = (app / ".otter" / "cache", app / ".otter" / "keys")  # path="." builds
    before = build_cache.key(COMMAND, "app:1", app, ours)
    for folder in ours:
        folder.mkdir(parents=True)
        (folder / "written").write_text("by otter")
    assert build_cache.key(COMMAND, "app:1", app, ours) == before
    (app / ".otter" / "secrets").write_text("A=1\n")  # the user's: still an input
    assert build_cache.key(COMMAND, "app:1", app, ours) != before

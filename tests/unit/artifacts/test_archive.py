"""artifacts/archive.py: a `docker save` archive recognised by its manifest, and the answer
kept beside a cached file (named by its digest) so that a compressed archive is not read
whole again on every deploy."""
from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest

from otterfile.artifacts import archive
from tests.archives import tar_bytes

pytestmark = pytest.mark.unit

IMAGE = "sha256:" + "ab" * 32


def tar_of(members: dict[str, bytes], compress: bool) -> bytes:
    return gzip.compress(tar_bytes(members)) if compress else tar_bytes(members)


def cached(folder: Path, data: bytes) -> Path:
    path = folder / hashlib.sha256(data).hexdigest()
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("compress", [False, True])
def test_a_save_archive_is_read_once_then_its_kept_answer(tmp_path, monkeypatch, compress):
    manifest = json.dumps([{"Config": f"blobs/sha256/{IMAGE[7:]}", "Layers": []}]).encode()
    path = cached(tmp_path, tar_of({"layer.tar": b"x" * 4096, "manifest.json": manifest},
                                   compress))
    assert archive.image_id_of(path) == IMAGE
    assert (tmp_path / f".{path.name}.image").read_text() == IMAGE + "\n"

    def unread(_: Path) -> None:
        raise AssertionError("read the archive again")
    monkeypatch.setattr(archive, "_read_image_id", unread)
    assert archive.image_id_of(path) == IMAGE


def test_not_an_image_is_kept_too_and_a_file_not_named_by_digest_keeps_nothing(
        tmp_path, monkeypatch):
    data = tar_of({"server.py": b"print(1)\n"}, compress=True)
    path = cached(tmp_path, data)
    assert archive.image_id_of(path) is None
    assert (tmp_path / f".{path.name}.image").read_text() == "-\n"
    loose = tmp_path / "app.tar.gz"
    loose.write_bytes(data)
    assert archive.image_id_of(loose) is None
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [path.name, f".{path.name}.image", "app.tar.gz"])
    calls = []
    monkeypatch.setattr(archive, "_read_image_id", lambda p: calls.append(p))
    assert archive.image_id_of(path) is None and calls == []


def test_a_kept_answer_that_is_not_one_is_read_again(tmp_path):
    manifest = json.dumps([{"Config": f"{IMAGE[7:]}.json"}]).encode()
    path = cached(tmp_path, tar_of({"manifest.json": manifest}, compress=False))
    (tmp_path / f".{path.name}.image").write_text("garbage\n")
    assert archive.image_id_of(path) == IMAGE
    assert (tmp_path / f".{path.name}.image").read_text() == IMAGE + "\n"


def test_an_unreadable_file_keeps_no_answer(tmp_path):
    path = tmp_path / ("cd" * 32)  # named by a digest, but not there
    assert archive.image_id_of(path) is None
    assert list(tmp_path.iterdir()) == []

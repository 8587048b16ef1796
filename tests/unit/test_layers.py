"""Filtering a `docker save` stream down to the layers a target lacks: pure logic on a
synthetic archive in Docker 20.10's save format (v1 ids computed as the engine does)."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from otterfile.artifacts.layers import (LayerFilter, chain_ids, chains_present, layer_index,
                                        missing)
from otterfile.runtimes import KINDS

pytestmark = pytest.mark.unit


def _diff(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _v1(fields: dict, chain: str, parent: str | None) -> tuple[str, bytes]:
    """A folder's id and json as the engine writes them (id hashed with layer_id)."""
    hashed = dict(fields, layer_id=chain, **({"parent": "sha256:" + parent} if parent else {}))
    text = json.dumps(hashed, sort_keys=True, separators=(",", ":"))
    v1 = hashlib.sha256(text.encode()).hexdigest()
    written = dict(fields, id=v1, **({"parent": parent} if parent else {}))
    return v1, json.dumps(written, separators=(",", ":")).encode()


def archive(layers: list[bytes]) -> tuple[bytes, list[str]]:
    diffs = [_diff(data) for data in layers]
    members, parent = [], None
    for chain, data in zip(chain_ids(diffs), layers):
        v1, text = _v1({"created": "1970-01-01T00:00:00Z"}, chain, parent)
        members += [(f"{v1}/json", text), (f"{v1}/layer.tar", data)]
        parent = v1
    members.sort()  # the engine writes members in name order: layers before the manifest
    members.append(("manifest.json", b"[]"))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue(), diffs


def names(data: bytes) -> list[str]:
    return [m.name for m in tarfile.open(fileobj=io.BytesIO(data))]


def read_all(stream) -> bytes:
    out = b""
    while chunk := stream.read(7000):
        out += chunk
    return out


def test_chain_ids_follow_the_engine():
    a, b = _diff(b"a"), _diff(b"b")
    assert chain_ids([a, b]) == [a, "sha256:" + hashlib.sha256(f"{a} {b}".encode()).hexdigest()]


def test_a_layer_the_target_has_is_left_out():
    layers = [b"base" * 5000, b"app" * 100]
    data, diffs = archive(layers)
    have = frozenset(chain_ids(diffs)[:1])
    skip = [i for i in range(2) if i not in missing(diffs, have)]
    stream = LayerFilter(io.BytesIO(data), diffs, skip)
    out = read_all(stream)
    assert skip == [0] and stream.skipped > 20000 and len(out) == len(data) - stream.skipped
    kept = [n for n in names(out) if n.endswith("layer.tar")]
    assert len(kept) == 1
    assert tarfile.open(fileobj=io.BytesIO(out)).extractfile(kept[0]).read() == layers[1]


def test_nothing_to_skip_passes_the_archive_unchanged():
    data, diffs = archive([b"x" * 3000, b"y" * 10])
    assert read_all(LayerFilter(io.BytesIO(data), diffs, [])) == data


def test_the_same_chain_on_another_base_is_not_the_same_layer():
    data, diffs = archive([b"other base", b"app"])
    elsewhere = chain_ids([_diff(b"base"), _diff(b"app")])
    assert missing(diffs, frozenset(elsewhere)) == [0, 1]


def test_an_unknown_folder_is_always_sent():
    assert layer_index(b'{"id":"' + b"0" * 64 + b'"}', chain_ids([_diff(b"a")])) is None
    assert layer_index(b"not json", []) is None


def test_target_listing_parses_to_chains():
    a, b = _diff(b"a"), _diff(b"b")
    assert chains_present(f'{json.dumps([a, b])}\nnull\ngarbage\n') == frozenset(
        chain_ids([a, b]))


@pytest.mark.parametrize("runtime", KINDS.values(), ids=lambda r: r.name)
def test_only_image_runtimes_probe_layers(runtime):
    command = runtime.layers()
    if "image" in runtime.forms:
        assert "image inspect" in " ".join(command.argv_values())
    else:
        assert command is None and runtime.parse_layers("x") == frozenset()

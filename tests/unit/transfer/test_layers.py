"""Filtering a `docker save` stream down to the layers a target lacks: pure logic on a
synthetic archive in Docker 20.10's save format (v1 ids computed as the engine does)."""
from __future__ import annotations

import hashlib
import io
import json
import tarfile

import pytest

from otterfile.transfer.layers import (LayerFilter, archive_diff_ids, chain_ids,
                                        chains_present, layer_index, missing)
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
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": diffs}}).encode()
    name = hashlib.sha256(config).hexdigest() + ".json"
    layer_files = [n for n, _ in members if n.endswith("layer.tar")]
    members.append((name, config))
    members.sort()  # the engine writes members in name order: layers before the manifest
    members.append(("manifest.json",
                    json.dumps([{"Config": name, "Layers": layer_files}]).encode()))
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
    # the layer the target has stays as an empty member (podman wants every file named
    # in the manifest; neither engine reads a layer it holds), its checksum valid
    sizes = {m.name: m.size for m in tarfile.open(fileobj=io.BytesIO(out))
             if m.name.endswith("layer.tar")}
    assert sorted(sizes.values()) == [0, len(layers[1])]
    kept = next(n for n, size in sizes.items() if size)
    assert tarfile.open(fileobj=io.BytesIO(out)).extractfile(kept).read() == layers[1]
    assert names(out) == names(data)


def test_a_skipped_layer_behind_a_pax_header_is_left_out_whole():
    """A pax header may carry the size: an emptied header after it would be misread."""
    layers = [b"base" * 5000, b"app"]
    data, diffs = archive(layers)
    members = list(tarfile.open(fileobj=io.BytesIO(data)))
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for member in members:
            if member.name.endswith("layer.tar"):
                member.pax_headers = {"comment": "pax"}
            tar.addfile(member, tarfile.open(fileobj=io.BytesIO(data)).extractfile(member.name))
    stream = LayerFilter(io.BytesIO(out.getvalue()), diffs, [0])
    left = read_all(stream)
    assert [m.size for m in tarfile.open(fileobj=io.BytesIO(left))
            if m.name.endswith("layer.tar")] == [3]


def test_the_diff_ids_of_an_archive_file(tmp_path):
    data, diffs = archive([b"a" * 100, b"b" * 10])
    path = tmp_path / "app.tar"
    path.write_bytes(data)
    with open(path, "rb") as source:
        assert archive_diff_ids(source) == diffs
        assert source.read() == data  # left at its start, for the send
    (tmp_path / "junk").write_bytes(b"not a tar" * 100)
    with open(tmp_path / "junk", "rb") as source:
        assert archive_diff_ids(source) == []


def test_an_archive_streamed_from_elsewhere_ships_whole():
    class Stream:  # a build host's `cat`: no seeking back
        def read(self, size=-1):
            return b""
    assert archive_diff_ids(Stream()) == []


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

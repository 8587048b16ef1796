"""Room on a target before ship: where an artifact lands, how much it needs there, what is
pruned first, and the ship stage stopping before it sends a byte. Nothing runs."""
from __future__ import annotations

import gzip
import io
import json
import re
import tarfile
import zipfile

import pytest

from otterfile.artifacts.base import Artifact
from otterfile.errors import OtterError
from otterfile.transfer.layers import chain_ids
from otterfile.transfer.sizes import Footprint, footprint, image_bytes
from otterfile.transfer.unpacked import unpacked_size
from otterfile.run.space import Landing, Shortfall, parse, prunable, shortfalls
from otterfile.run.runner import FAILED, OK, SKIPPED
from otterfile.run.state_file import parse_state
from tests.archives import tar_bytes
from tests.unit.run.test_flow import DIGEST, Images, answers, deploy, live_state, verbs

pytestmark = pytest.mark.unit

MB = 1024 * 1024
DOCKER = [Landing("archive", 300 * MB, "/", "/var/lib/docker/tmp"),
          Landing("unpacked", 300 * MB, "/", "/var/lib/docker")]


def test_free_space_lines_parse_and_garbage_is_left_out():
    text = ("archive\t1024\t/var/lib/docker/tmp\t/var/lib/docker/tmp\n"
            "unpacked\t2048\t/ with space\t/var/lib/docker\n"
            "archive\tlots\t/\t/x\nweird\t1\t/\t/y\nshort line\n")
    assert parse(text) == [Landing("archive", MB, "/var/lib/docker/tmp", "/var/lib/docker/tmp"),
                           Landing("unpacked", 2 * MB, "/ with space", "/var/lib/docker")]


def test_roles_on_one_file_system_add_up_and_are_named_by_their_common_folder():
    need = Footprint(700 * MB, 530 * MB).by_role()
    assert shortfalls(DOCKER, need) == [Shortfall("/var/lib/docker", 1230 * MB, 300 * MB)]
    assert shortfalls(DOCKER, Footprint(100 * MB, 100 * MB).by_role()) == []
    assert shortfalls(DOCKER, Footprint(150 * MB, 150 * MB).by_role()) == []  # exactly fits


def test_each_file_system_is_judged_on_its_own():
    landings = [Landing("archive", 8 * MB, "/var/lib/docker/tmp", "/var/lib/docker/tmp"),
                Landing("unpacked", 900 * MB, "/", "/var/lib/docker")]
    assert shortfalls(landings, Footprint(40 * MB, 40 * MB).by_role()) == [
        Shortfall("/var/lib/docker/tmp", 40 * MB, 8 * MB)]
    assert shortfalls(landings, {"archive": 0, "unpacked": 0}) == []


def test_the_message_names_the_host_the_need_and_the_room():
    short = Shortfall("/var/lib/docker", int(1.2 * 1024 * MB), 300 * MB)
    assert short.message("web-1") == "web-1: needs 1.2 GB, 300.0 MB free on /var/lib/docker"


def release(rid: str, digest: str, status: str) -> dict:
    return {"id": rid, "digest": digest, "image": "", "status": status, "port": 20000,
            "instance": f"otter-web-{rid}"}


def state_of(*releases: dict):
    live = next((r["id"] for r in releases if r["status"] == "live"), None)
    return parse_state(json.dumps({"releases": list(releases), "live": live}))


def digest(n: int) -> str:
    return "sha256:" + f"{n:02x}" * 32


def test_prunable_is_what_retire_would_prune_once_the_new_release_is_live():
    state = state_of(release("20240101T000001-aaaaaaaa", digest(1), "previous"),
                     release("20240101T000002-bbbbbbbb", digest(2), "previous"),
                     release("20240101T000003-cccccccc", digest(3), "live"),
                     release("20240101T000004-dddddddd", digest(4), "failed"))
    started = frozenset(digest(n).removeprefix("sha256:") for n in (1, 2, 3, 4))
    pruned, digests = prunable(state, 3, [digest(3), digest(9)], started)
    assert [r.id for r in pruned] == ["20240101T000001-aaaaaaaa"]  # 3 kept: c, b and the new one
    assert digests == [digest(1), digest(4)]  # a failed release's artifact goes too
    pruned, digests = prunable(state, 1, [digest(3)], started)  # the live one always stays
    assert [r.id for r in pruned] == ["20240101T000001-aaaaaaaa", "20240101T000002-bbbbbbbb"]
    assert prunable(state, 5, [digest(3), digest(4)], started) == ([], [])  # never what is kept
    # what only releases.json names (no record, no label) is never pruned
    assert prunable(state, 3, [digest(3)], started - {digest(4).removeprefix("sha256:")})[1] \
        == [digest(1)]


HISTORY = [{"Size": 20_000}, {"Size": 0}, {"Size": 2_000_000}]  # top first


class Layered(Images):
    """An engine whose image has a 2 MB base layer and a 20 KB top layer."""

    diff_ids = ["sha256:" + "1" * 64, "sha256:" + "2" * 64]

    def size(self, image_id):
        return 2_020_000

    def layers(self, image_id):
        return self.diff_ids

    def history(self, image_id):
        return HISTORY


def test_an_image_needs_only_the_layers_the_target_lacks():
    images = Layered()
    base = frozenset(chain_ids(images.diff_ids)[:1])
    assert image_bytes(DIGEST, images, None) == 2_020_000
    assert image_bytes(DIGEST, images, base) == 20_000
    assert footprint(Artifact("image", DIGEST), images, base) == Footprint(20_000, 20_000)
    images.history = lambda image_id: [{"Size": 5}]  # cannot be matched: the whole image
    assert image_bytes(DIGEST, images, base) == 2_020_000


def test_what_targets_fetch_themselves_is_not_counted(tmp_path):
    assert footprint(Artifact("file", DIGEST, url="https://example.test/a.tgz"),
                     Images(), None) is None
    assert footprint(Artifact("image", DIGEST, pull=object()), Images(), None) is None
    kept = tmp_path / "app.bin"
    kept.write_bytes(b"x" * 1000)
    assert footprint(Artifact("file", DIGEST, path=kept), Images(), None,
                     local=False) is None  # a file on a build host


def test_a_saved_archive_whose_manifest_is_no_file_is_named(tmp_path):
    kept = tmp_path / "app.tar"
    with tarfile.open(kept, "w") as archive:
        archive.addfile(tarfile.TarInfo("other"), io.BytesIO(b""))
    have = frozenset({"sha256:" + "1" * 64})
    assert footprint(Artifact("image", DIGEST, path=kept), Images(), have) is None  # unknown
    with tarfile.open(kept, "w") as archive:
        folder = tarfile.TarInfo("manifest.json")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
    with pytest.raises(OtterError, match=re.escape(f"{kept}: manifest.json in this docker "
                                                   "save archive is not a file")):
        footprint(Artifact("image", DIGEST, path=kept), Images(), have)


def zstd_frame(content: bytes) -> bytes:
    """One zstd frame with raw blocks that declares its content size (as `zstd FILE`)."""
    head = b"\x28\xb5\x2f\xfd" + bytes([0xA4]) + len(content).to_bytes(4, "little")
    blocks = b""
    for start in range(0, len(content), 100_000):
        part = content[start:start + 100_000]
        last = start + 100_000 >= len(content)
        blocks += ((len(part) << 3) | int(last)).to_bytes(3, "little") + part
    return head + blocks + b"\0\0\0\0"  # the checksum (flag set): not checked here


def test_an_archive_counts_what_it_unpacks_to(tmp_path):
    files = {"app/big.txt": b"a" * 3 * MB, "app/run": b"#!/bin/sh\n"}
    plain = tar_bytes(files)
    cases = {"app.tar.gz": gzip.compress(plain),
             "two.tar.gz": gzip.compress(plain) + gzip.compress(plain) + bytes(512),
             "app.tar.zst": zstd_frame(plain), "app.tar": plain}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
    zipped = tmp_path / "app.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    assert unpacked_size(tmp_path / "app.tar.gz") == (len(plain), True)
    assert unpacked_size(tmp_path / "two.tar.gz") == (2 * len(plain), True)
    assert unpacked_size(tmp_path / "app.tar.zst") == (len(plain), True)
    assert unpacked_size(tmp_path / "app.tar") == (len(plain), True)
    assert unpacked_size(zipped) == (3 * MB + 10, True)
    count, exact = unpacked_size(tmp_path / "app.tar.gz", limit=MB)  # stopped past it
    assert count > MB and not exact
    (tmp_path / "stream.zst").write_bytes(zstd_frame(plain)[:4] + b"\x04" + b"\0" * 8)
    assert unpacked_size(tmp_path / "stream.zst") == (None, True)  # no declared size
    single = tmp_path / "app.bin"
    single.write_bytes(b"\x7fELF" + bytes(5000))
    assert unpacked_size(single) == (5004, True)
    gz = tmp_path / "app.tar.gz"
    assert footprint(Artifact("file", "sha256:" + "77" * 32, path=gz), Images(), None) == \
        Footprint(gz.stat().st_size, len(plain))


# -- the ship stage, against a recording target ------------------------------------------

ROOM = ("--- otter:space\narchive\t{kib}\t/\t/var/lib/docker/tmp\n"
        "unpacked\t{kib}\t/\t/var/lib/docker\n")
PREVIOUS = {"id": "20230101T000000-eeeeeeee", "digest": "sha256:" + "ee" * 32, "image": "",
            "status": "previous", "port": 20002, "instance": "otter-production-20230101T"
            "000000-eeeeeeee", "config": None}


def with_room(kib: int, previous: bool = False, pruned_kib: int | None = None):
    """A target whose state read says `kib` KiB free where the image lands; pruning (when
    asked) leaves `pruned_kib` free."""
    state = live_state("docker", "reverse_proxy 127.0.0.1:20000")
    if previous:
        head, _, rest = state.partition("\n")
        data = json.loads(head)
        data["releases"].insert(0, PREVIOUS)
        # otter started it here: its record, so a prune may remove its artifact
        state = json.dumps(data) + "\n" + rest + "\n--- otter:started\n" + \
            PREVIOUS["digest"].removeprefix("sha256:")

    def target(host):
        made = answers(state, "missing\n" + ROOM.format(kib=kib))(host)
        made.responses[lambda c: c.description.startswith("prune old releases")] = \
            "removed x\n" + ROOM.format(kib=pruned_kib if pruned_kib is not None else kib)
        return made
    return target


class Big(Images):
    def size(self, image_id):
        return 40 * MB


def test_the_ship_stage_stops_before_sending_when_the_target_lacks_room(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.unit.run.test_flow.Images", Big)
    outcome, target, _ = deploy(tmp_path, "docker", "caddy", with_room(8 * 1024))
    assert outcome.status["production/ship@web1"] == FAILED
    assert outcome.status["production/start@web1"] == SKIPPED
    assert outcome.status["production/unlock@web1"] == OK
    assert str(outcome.errors["production/ship@web1"]) == (
        "web1: needs 80.0 MB, 8.0 MB free on /var/lib/docker: nothing was sent; make room "
        "there or lower keep_releases")
    names = verbs(target)
    assert not any(n.startswith(("docker load", "prune")) for n in names)  # nothing pruned
    assert len(names) == 2  # the lock's round trip and the unlock's: none more


def test_pruning_what_keep_releases_allows_makes_room(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.unit.run.test_flow.Images", Big)
    outcome, target, _ = deploy(tmp_path, "docker", "caddy",
                                with_room(8 * 1024, previous=True, pruned_kib=200 * 1024))
    assert outcome.ok, outcome.errors
    names = verbs(target)
    assert names.index("prune old releases to make room") < names.index("docker load")
    prune = next(c for c in target.commands if c.description.startswith("prune old"))
    script = prune.argv[2]
    assert "ee" * 32 in script and "cd" * 32 not in script  # the live image stays
    retired = json.loads(prune.stdin)["releases"][0]
    assert (retired["id"], retired["status"]) == (PREVIOUS["id"], "retired")


def test_still_short_after_pruning_says_so(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.unit.run.test_flow.Images", Big)
    outcome, target, _ = deploy(tmp_path, "docker", "caddy",
                                with_room(8 * 1024, previous=True, pruned_kib=30 * 1024))
    error = str(outcome.errors["production/ship@web1"])
    assert error.startswith("web1: needs 80.0 MB, 30.0 MB free on /var/lib/docker (after "
                            "pruning 1 old artifact(s)): nothing was sent")
    assert "docker load" not in verbs(target)


def test_room_enough_costs_no_round_trip(tmp_path, monkeypatch):
    monkeypatch.setattr("tests.unit.run.test_flow.Images", Big)
    outcome, target, _ = deploy(tmp_path, "docker", "caddy", with_room(900 * 1024))
    assert outcome.ok, outcome.errors
    assert not any(n.startswith("prune old") for n in verbs(target))


def test_the_state_read_asks_for_the_room_only_where_the_artifact_will_ship(tmp_path):
    from otterfile.run.recover import state_read
    outcome, target, engine = deploy(tmp_path, "docker", "caddy", answers())
    text = state_read(engine, engine.lane("production", "web1"), None).argv_values()[2]
    assert 'present | tagged) layers="" room="" ;;' in text  # the target has it: no room asked
    assert "DockerRootDir" in text and "df -Pk" in text


# -- the target side: where the bytes land and the room there (run here with sh) ----------

def run_line(line: str, env: dict | None = None) -> str:
    import os
    import subprocess
    return subprocess.run(["/bin/sh", "-c", line], capture_output=True, text=True, timeout=30,
                          env={**os.environ, **(env or {})}, check=True).stdout


def test_free_space_is_read_where_each_part_lands(tmp_path):
    from otterfile.runtimes.systemd import RUNTIME
    from otterfile.run.space import read_line
    (tmp_path / "store").mkdir()
    line = read_line(RUNTIME, "web").replace("/var/lib/otter/artifacts/sha256",
                                             str(tmp_path / "store"))
    found = parse(run_line(line))
    assert [(f.role, f.path) for f in found] == [
        ("archive", str(tmp_path / "store")), ("unpacked", "/var/lib/otter/web/releases")]
    assert all(f.free > 0 and f.mount.startswith("/") for f in found)


def test_a_folder_not_made_yet_counts_its_parents_file_system_and_odd_lines_are_skipped(
        tmp_path):
    from otterfile.commands.space import free_space
    text = f"archive {tmp_path}/not/yet\nunpacked relative/path\n\nunpacked {tmp_path}\n"
    out = subprocess_input(free_space().shell_line(), text)
    found = parse(out)
    assert [f.path for f in found] == [f"{tmp_path}/not/yet", str(tmp_path)]
    assert found[0].mount == found[1].mount


def subprocess_input(line: str, text: str) -> str:
    import subprocess
    return subprocess.run(["sh", "-c", line], input=text, capture_output=True, text=True,
                          timeout=30, check=True).stdout


def test_the_engine_says_where_it_loads(tmp_path):
    import os
    from otterfile.commands.space import engine_landing
    for name in ("with", "without"):
        (tmp_path / name).mkdir()
        os.symlink("/bin/sh", tmp_path / name / "sh")
    fake = tmp_path / "with" / "docker"
    fake.write_text("#!/bin/sh\necho /srv/docker root\n")
    fake.chmod(0o755)
    line = engine_landing("docker").shell_line()
    assert run_line(line, {"PATH": str(tmp_path / "with")}) == \
        "archive /srv/docker root/tmp\nunpacked /srv/docker root\n"
    assert run_line(line, {"PATH": str(tmp_path / "without")}) == ""  # no engine: no check

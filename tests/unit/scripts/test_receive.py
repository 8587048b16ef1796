"""The store's receive (scripts/store/receive.sh) run for real with sh on this machine
against real archives: what it stores, what it unpacks on arrival and what it writes for
the start to judge (the listings, the count, the status), with each of its tools and
without the faster ones (zstd reading gzip, OpenSSL's sha256), a gzip bomb cut at `cut`,
more members than `files`, and a digest that is not the one asked for."""
from __future__ import annotations

import hashlib
import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from otterfile.commands import store
from otterfile.executors.local import LocalExecutor
from otterfile.transfer.unpacked import on_arrival
from tests.archives import MiB, gzip_bomb
from tests.unit.runtimes.test_systemd import APP, tar_gz

pytestmark = pytest.mark.unit

MEMBERS = [APP, ("static/", "dir", None), ("static/a b -> c", "file", "x\n"),
           ("link", "symlink", "static/a b -> c"), ("hard", "hardlink", "app"),
           ("/abs/evil", "file", "evil")]


def receive(tmp_path: Path, data: bytes, *, want: str | None = None, cut: int | None = None,
            files: int | None = None, hide: tuple[str, ...] = (), broken: tuple[str, ...] = ()):
    """`data` through the receive as a ship sends it; `hide`: tools it cannot find,
    `broken`: tools that fail or say nothing useful."""
    source = tmp_path / "shipped"
    source.write_bytes(data)
    z, default_cut, default_files, size = on_arrival(source) or ("", 0, 0, 0)
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    for name in hide + broken:  # shadows the real one; a hidden one is a failing command
        tool = bin_ / name
        tool.write_text("#!/bin/sh\necho 'not a digest'\nexit 1\n" if name in broken
                        else "#!/bin/sh\nexit 127\n")
        tool.chmod(0o755)
    path = f"{bin_}:{os.environ.get('PATH', os.defpath)}"
    if hide:  # `command -v` finds nothing: PATH holds only what the script needs
        path = _path_without(tmp_path, hide)
    command = store.receive(want or hashlib.sha256(data).hexdigest(), str(tmp_path / "store"),
                            unpack=(z, cut or default_cut, files or default_files, size))
    return LocalExecutor().run(replace(command, stdin=data, env={"PATH": path}))


def _path_without(tmp_path: Path, hide: tuple[str, ...]) -> str:
    """A folder of links to every tool on PATH but those in `hide`."""
    folder = tmp_path / "tools"
    folder.mkdir(exist_ok=True)
    for entry in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            if name not in hide and not (folder / name).exists():
                (folder / name).symlink_to(os.path.join(entry, name))
    return str(folder)


def arrived(tmp_path: Path, data: bytes) -> Path:
    return tmp_path / "store" / ".unpacked" / hashlib.sha256(data).hexdigest()


def text(path: Path) -> str:
    return path.read_text()


@pytest.mark.parametrize("hide,broken", [((), ()), (("zstd",), ()), (("openssl",), ()),
                                         ((), ("openssl",))],
                         ids=["zstd and openssl", "gzip itself", "sha256sum", "openssl broken"])
def test_an_archive_is_stored_and_unpacked_with_both_listings(tmp_path, hide, broken):
    data = tar_gz(MEMBERS)
    result = receive(tmp_path, data, hide=hide, broken=broken)
    assert result.exited == 0, result.stderr
    assert (tmp_path / "store" / hashlib.sha256(data).hexdigest()).read_bytes() == data
    pre = arrived(tmp_path, data)
    assert text(pre / "done") == "0\n" and text(pre / "z") == "gz\n"
    names = ["app", "static/", "static/a b -> c", "link", "hard", "/abs/evil"]
    assert text(pre / "names").splitlines() == names  # as stored: "/abs" too
    long = text(pre / "long").splitlines()
    assert [line[0] for line in long] == ["-", "d", "-", "l", "h", "-"]
    assert long[3].endswith(" link -> static/a b -> c") and long[4].endswith(" hard link to app")
    assert int(text(pre / "bytes")) == len(tar_gz(MEMBERS, "w"))  # the decompressed stream
    assert (pre / "tree" / "static" / "a b -> c").read_text() == "x\n"
    assert (pre / "tree" / "abs" / "evil").exists()  # under the tree, never at /abs
    assert not Path("/abs/evil").exists()
    assert sorted(p.name for p in pre.iterdir()) == ["bytes", "cut", "done", "l.rc", "long",
                                                     "names", "sha", "tree", "z"]
    assert not [p for p in (tmp_path / "store").iterdir() if "otter-tmp" in p.name]


def test_a_plain_tar_and_a_tar_zst_are_unpacked_too(tmp_path):
    plain = tar_gz([APP], "w")
    assert receive(tmp_path, plain).exited == 0
    assert text(arrived(tmp_path, plain) / "done") == "0\n"
    if shutil.which("zstd") is None:
        pytest.skip("outside the project: no zstd on this machine")
    zst = tmp_path / "a.tar"
    zst.write_bytes(plain + b"\0" * 10)  # another digest than `plain`
    os.system(f"zstd -q -f {zst} -o {zst}.zst")
    data = Path(f"{zst}.zst").read_bytes()
    assert receive(tmp_path, data).exited == 0
    pre = arrived(tmp_path, data)
    assert text(pre / "done") == "0\n" and text(pre / "z") == "zst\n"
    assert (pre / "tree" / "app").read_text() == APP[2]


def test_a_bomb_is_cut_one_byte_past_the_limit_and_the_store_keeps_it_whole(tmp_path):
    data = gzip_bomb(8 * MiB)
    result = receive(tmp_path, data, cut=MiB)
    assert result.exited == 0, result.stderr  # stored: the start refuses it by its limits
    assert (tmp_path / "store" / hashlib.sha256(data).hexdigest()).read_bytes() == data
    pre = arrived(tmp_path, data)
    assert int(text(pre / "bytes")) == MiB + 1 and text(pre / "cut") == f"{MiB}\n"
    assert text(pre / "done") != "0\n"
    assert sum(p.stat().st_size for p in (pre / "tree").rglob("*") if p.is_file()) <= MiB


def test_past_files_members_the_unpack_stops(tmp_path):
    data = tar_gz([APP] + [(f"f{i}", "file", "x" * 600) for i in range(400)])
    result = receive(tmp_path, data, files=50)
    assert result.exited == 0, result.stderr
    pre = arrived(tmp_path, data)
    assert text(pre / "done") != "0\n"
    assert len(text(pre / "long").splitlines()) == 51  # one past the limit: the start refuses
    assert len(list((pre / "tree").iterdir())) < 401


def test_a_member_with_dot_dot_is_not_unpacked_and_the_status_says_so(tmp_path):
    data = tar_gz([APP, ("../x", "file", "evil")])
    assert receive(tmp_path, data).exited == 0
    pre = arrived(tmp_path, data)
    assert text(pre / "done") != "0\n"  # the start unpacks it itself, and refuses
    assert not (tmp_path / "store" / ".unpacked" / "x").exists()


def test_another_digest_is_refused_and_nothing_stays(tmp_path):
    data = tar_gz([APP])
    result = receive(tmp_path, data, want="0" * 64)
    assert result.exited == 3
    assert f"otter: received sha256 {hashlib.sha256(data).hexdigest()}, expected " \
        in result.stderr
    folder = tmp_path / "store"
    assert [p.name for p in folder.iterdir()] == [".unpacked"]
    assert list((folder / ".unpacked").iterdir()) == []


def test_a_file_that_is_no_archive_is_stored_only(tmp_path):
    data = b"#!/bin/sh\necho hi\n"
    command = store.receive(hashlib.sha256(data).hexdigest(), str(tmp_path / "store"))
    result = LocalExecutor().run(replace(command, stdin=data))
    assert result.exited == 0, result.stderr
    assert [p.name for p in (tmp_path / "store").iterdir()] == [hashlib.sha256(data).hexdigest()]


def test_the_script_is_shellcheck_clean():
    if shutil.which("shellcheck") is None:
        pytest.skip("outside the project: shellcheck is not installed")
    script = Path(store.__file__).parent.parent / "scripts" / "store" / "receive.sh"
    assert os.system(f"shellcheck -s sh {script}") == 0

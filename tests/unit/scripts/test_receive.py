"""The store's receive (scripts/store/receive.sh) run for real with sh on this machine
against real archives: what it stores, what it unpacks on arrival and what it writes for
the start to judge (the listing, the count, the status), with each of its tools and
without the faster ones (zstd reading gzip, OpenSSL's sha256), a gzip bomb cut at `cut`,
more members than `files`, odd names read back as the start lists an archive itself, and a
digest that is not the one asked for."""
from __future__ import annotations

import hashlib
import os
import stat
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from otterfile.commands import store
from otterfile.executors.local import LocalExecutor
from otterfile.transfer.unpacked import on_arrival
from tests.archives import MiB, gzip_bomb
from tests.unit.runtimes.test_systemd import APP, tar_gz
from tests.unit.scripts.tools import path_without

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
        path = path_without(tmp_path, *hide)
    command = store.receive(want or hashlib.sha256(data).hexdigest(), str(tmp_path / "store"),
                            unpack=(z, cut or default_cut, files or default_files, size))
    return LocalExecutor().run(replace(command, stdin=data, env={"PATH": path}))


def arrived(tmp_path: Path, data: bytes) -> Path:
    return tmp_path / "store" / ".unpacked" / hashlib.sha256(data).hexdigest()


def text(path: Path) -> str:
    return path.read_text()


@pytest.mark.parametrize("hide,broken", [((), ()), (("zstd",), ()), (("openssl",), ()),
                                         ((), ("openssl",))],
                         ids=["zstd and openssl", "gzip itself", "sha256sum", "openssl broken"])
def test_an_archive_is_stored_and_unpacked_with_its_listing(tmp_path, hide, broken):
    data = tar_gz(MEMBERS)
    result = receive(tmp_path, data, hide=hide, broken=broken)
    assert result.exited == 0, result.stderr
    assert (tmp_path / "store" / hashlib.sha256(data).hexdigest()).read_bytes() == data
    pre = arrived(tmp_path, data)
    assert text(pre / "done") == "0\n" and text(pre / "z") == "gz\n"
    index = [line for line in text(pre / "index").splitlines()
             if "Creating directory: " not in line]  # tar's own, for /abs
    assert [line[0] for line in index] == ["-", "d", "-", "l", "h", "-"]
    assert index[2].endswith(' "static/a b -> c"')
    assert index[3].endswith(' "link" -> "static/a b -> c"')
    assert index[4].endswith(' "hard" link to "app"')
    assert index[5].endswith(' "/abs/evil"')  # as stored
    assert int(text(pre / "bytes")) == len(tar_gz(MEMBERS, "w"))  # the decompressed stream
    assert (pre / "tree" / "static" / "a b -> c").read_text() == "x\n"
    assert (pre / "tree" / "abs" / "evil").exists()  # under the tree, never at /abs
    assert not Path("/abs/evil").exists()
    assert sorted(p.name for p in pre.iterdir()) == ["bytes", "cut", "done", "index", "tree",
                                                     "z"]
    assert not [p for p in (tmp_path / "store").iterdir() if "otter-tmp" in p.name]


ODD = [APP, ("static/", "dir", None), ('q"uote\\b', "file", "x"), ("nl\nname", "file", "x"),
       ("tab\tname", "file", "x"), ("sp ace -> x", "file", "x"), ("./dot/./x", "file", "x"),
       ("l -> y", "symlink", "sp ace -> x"), ("up", "symlink", "../../etc/passwd"),
       ("absl", "symlink", "/etc/passwd"), ("h link to z", "hardlink", "sp ace -> x"),
       ("h2", "hardlink", 'q"uote\\b'), ("/abs/evil", "file", "evil")]


def test_the_listing_reads_as_the_start_lists_the_archive_itself(tmp_path):
    """unpack.sh read_index on what the receive listed gives the members list_tar gives
    from the archive (the start's own unpack), odd names and all."""
    data = tar_gz(ODD)
    assert receive(tmp_path, data).exited == 0
    pre = arrived(tmp_path, data)
    assert text(pre / "done") == "0\n"
    (tmp_path / "t").mkdir()
    (tmp_path / "a.tgz").write_bytes(data)
    unpack = (Path(store.__file__).parent.parent / "scripts" / "unpack.sh").read_text()
    script = unpack + """
tmpd=$1; z=gz max_bytes=99999999 what=it
fail() { echo "$*" >&2; exit 1; }
list_tar "$2" && mv "$tmpd/members" "$tmpd/listed" && read_index "$3" > "$tmpd/read"
"""
    done = subprocess.run(["sh", "-c", script, "sh", str(tmp_path / "t"),
                           str(tmp_path / "a.tgz"), str(pre / "index")],
                          capture_output=True, text=True, env={"LC_ALL": "C", **os.environ})
    assert done.returncode == 0, done.stderr
    listed = (tmp_path / "t" / "listed").read_text()
    assert (tmp_path / "t" / "read").read_text() == listed
    assert "h\th link to z\tsp ace -> x\n" in listed and "\tnl\\nname\t" in listed
    assert 'h\th2\tq"uote\\\\b\n' in listed


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


def test_a_bomb_is_cut_past_the_limit_and_the_store_keeps_it_whole(tmp_path):
    data = gzip_bomb(8 * MiB)
    result = receive(tmp_path, data, cut=MiB)
    assert result.exited == 0, result.stderr  # stored: the start refuses it by its limits
    assert (tmp_path / "store" / hashlib.sha256(data).hexdigest()).read_bytes() == data
    pre = arrived(tmp_path, data)
    assert text(pre / "cut") == f"{MiB}\n" and text(pre / "done") != "0\n"
    assert not (pre / "bytes").exists()  # killed before its count
    # within two of tar's records past the cut (its checkpoint)
    assert sum(p.stat().st_size for p in (pre / "tree").rglob("*") if p.is_file()) \
        <= MiB + 2 * 10240


def test_past_files_members_the_unpack_stops(tmp_path):
    data = tar_gz([APP] + [(f"f{i}", "file", "x" * 600) for i in range(400)])
    result = receive(tmp_path, data, files=50)
    assert result.exited == 0, result.stderr
    pre = arrived(tmp_path, data)
    assert text(pre / "done") != "0\n"
    assert len(text(pre / "index").splitlines()) == 51  # one past the limit: the start refuses
    assert len(list((pre / "tree").iterdir())) < 401


def test_a_listing_stopped_after_tar_wrote_it_all_is_not_whole(tmp_path):
    """A short listing fits tar's one write at its end: tar has said 0 by the time the
    listing stops reading, and the unpack is still not taken as whole."""
    data = tar_gz([APP] + [(f"f{i}", "file", "x") for i in range(9)])
    assert receive(tmp_path, data, files=3).exited == 0
    pre = arrived(tmp_path, data)
    assert text(pre / "done") != "0\n"
    assert len(text(pre / "index").splitlines()) == 4


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


def test_the_stored_file_and_the_unpacked_folder_have_their_modes_under_any_umask(tmp_path):
    """644 for the store's file (made under the receive's own umask 022, no chmod), 700 for
    the folder of what was unpacked on arrival, whatever umask the session had."""
    data = tar_gz(MEMBERS)
    old = os.umask(0o077)
    try:
        result = receive(tmp_path, data)
    finally:
        os.umask(old)
    assert result.exited == 0, result.stderr
    stored = tmp_path / "store" / hashlib.sha256(data).hexdigest()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "store" / ".unpacked").stat().st_mode) == 0o700
    (tmp_path / "store" / ".unpacked").chmod(0o755)  # loosened: the next receive tightens it
    assert receive(tmp_path, tar_gz([APP])).exited == 0
    assert stat.S_IMODE((tmp_path / "store" / ".unpacked").stat().st_mode) == 0o700

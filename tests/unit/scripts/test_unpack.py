"""scripts/unpack.sh as the systemd start script runs it, for real against temporary folders
(tests/unit/runtimes/test_systemd.Target): archives bounded in unpacked size and file count,
counted on the decompressed stream (a gzip or zip bomb is stopped, a lying zip directory is not
believed), link targets read with numeric owners, and BusyBox tar named as such."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

from otterfile.commands import systemd as s
from tests.archives import MiB, gzip_bomb as bomb, lying, zipped
from tests.unit.runtimes.test_systemd import APP, Target, tar_gz

pytestmark = pytest.mark.unit


@pytest.fixture(params=["stored", "arrived"])
def target(tmp_path, request) -> Target:
    """Its artifacts copied into the store, or received as a ship sends them (unpacked on
    arrival too, up to the default limits: the start judges that tree with its own)."""
    made = Target(tmp_path)
    made.arrived = request.param == "arrived"
    return made


def member(name: str, data: bytes, mode: int = 0o644):
    info = tarfile.TarInfo(name)
    info.size, info.mode = len(data), mode
    return info, io.BytesIO(data)


def refused(target: Target, result, why: str) -> None:
    assert result.exited == 1, result.stdout + result.stderr
    assert result.stderr.startswith("otter: ") and why in result.stderr, result.stderr
    assert target.untouched() and not any(c.startswith("systemctl") for c in target.calls())


def test_a_gzip_bomb_past_the_set_limit_is_refused_before_anything_is_written(target):
    data = bomb(50 * MiB)
    assert len(data) < 100_000
    result = target.start(data, max_unpacked=20 * MiB)
    refused(target, result, f"refusing the artifact {target_hex(data)}: it unpacks to more "
                            f"than 20.0 MiB ({20 * MiB} bytes), the limit "
                            "systemd(max_unpacked=...) sets")
    assert not (target.base / "production" / "data").exists()  # refused before any write
    assert target.start(data, max_unpacked=60 * MiB).exited == 0


def test_the_default_limit_is_20_times_the_archive_at_least_64_mib(target):
    data = bomb(80 * MiB)
    result = target.start(data)
    refused(target, result, f"it unpacks to more than 64.0 MiB ({64 * MiB} bytes), the "
                            f"default limit: 20 times its {len(data)} bytes, at least 64 MiB, "
                            "at most 10 GiB; raise it with systemd(max_unpacked=...)")
    fits = Target(target.root / "fits")
    assert fits.start(bomb(60 * MiB)).exited == 0  # under the 64 MiB floor


def test_the_unpacking_itself_stops_at_the_limit(tmp_path):
    """The listing already refuses a bomb; the unpacking pass is bounded on its own too (an
    archive that changed between the two is still cut at the limit, and said so)."""
    archive = tmp_path / "bomb.tgz"
    archive.write_bytes(bomb(30 * MiB))
    into = tmp_path / "into"
    into.mkdir()
    done = subprocess.run(["sh", "-c", 'fail() { echo "otter: $*" >&2; exit 1; }\n'
                           'tmpd=$(mktemp -d) what=bomb\n' + s.UNPACK +
                           '\narchive_kind "$1"; set_limits "$1" "$3" ""; unpack_into "$1" "$2" x',
                           "sh", str(archive), str(into), str(5 * MiB)],
                          capture_output=True, text=True)
    assert done.returncode == 1
    assert done.stderr.startswith("otter: refusing bomb: it unpacks to more than 5.0 MiB")
    written = sum(f.stat().st_size for f in into.rglob("*") if f.is_file())
    assert written <= 5 * MiB + 1  # the start script's cleanup then removes the stage


def test_the_file_count_is_bounded(target):
    data = bomb(4096, files=5)  # app and 5 files
    result = target.start(data, max_files=5)
    refused(target, result, "it has 6 files, more than the limit of 5 (raise it with "
                            "systemd(max_files=...))")
    assert Target(target.root / "fits").start(data, max_files=6).exited == 0


def test_a_zip_is_counted_by_unpacking_it_not_by_its_directory(target, tmp_path):
    big = zipped(("app", APP[2].encode(), 0o100755), ("zeros", bytes(30 * MiB), 0o100644))
    liar = tmp_path / "liar.zip"
    liar.write_bytes(lying(big, b"zeros", 10))
    listed = subprocess.run(["unzip", "-l", str(liar)], capture_output=True, text=True)
    assert "       10  1980-01-01 00:00   zeros" in listed.stdout  # what its directory says
    result = target.start(liar.read_bytes(), max_unpacked=10 * MiB)
    refused(target, result, "it unpacks to more than 10.0 MiB")
    assert Target(target.root / "fits").start(big, max_unpacked=31 * MiB).exited == 0


def test_a_link_target_cannot_hide_behind_an_owner_name(target):
    """`tar -tv` prints owner names: one holding " link -> ok" made the check read a
    harmless target; with numeric owners it reads the real one."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as archive:
        archive.addfile(*member("app", APP[2].encode(), 0o755))
        info = tarfile.TarInfo("link")
        info.type, info.linkname, info.uname = tarfile.SYMTYPE, "../../../etc/passwd", \
            "x link -> ok"
        archive.addfile(info)
    result = target.start(raw.getvalue())
    # the check before unpacking names the target (the later realpath check does not)
    refused(target, result, "refusing the artifact: member link is a link out of the release "
                            "folder (../../../etc/passwd)")


def test_busybox_tar_is_named_with_what_to_install(target):
    busybox = shutil.which("busybox") or "/bin/busybox"  # scripts/setup.sh: busybox-static
    os.symlink(busybox, target.bin / "tar")  # first on the start script's PATH
    data = tar_gz([APP])  # once: gzip stamps the time, a second call may differ
    result = target.start(data)
    refused(target, result, f"the artifact {target_hex(data)} is a tar archive, and "
                            f"{target.bin / 'tar'} is BusyBox tar (tar (busybox) ")
    assert "install it (Debian: apt-get install tar; Alpine: apk add tar) and put it first " \
        "on PATH" in result.stderr


def target_hex(data: bytes) -> str:
    import hashlib
    return hashlib.sha256(data).hexdigest()[:12]


def test_the_limits_are_checked_as_otterfile_fields():
    from otterfile import systemd
    from otterfile.errors import OtterfileError
    from otterfile.runtimes.systemd import RUNTIME
    value = systemd(command="./app", port=8080)
    assert RUNTIME.check(value) == value
    for given, size in (("2GiB", 2 * 1024 ** 3), ("512 MiB", 512 * MiB), ("1.5GB", 1_500_000_000),
                        (4096, 4096), ("100kB", 100_000)):
        assert RUNTIME.check(systemd(command="./a", port=1, max_unpacked=given)).max_unpacked \
            == size
    for field, bad in (("max_unpacked", "lots"), ("max_unpacked", 0), ("max_unpacked", True),
                       ("max_unpacked", "2 GiBs"), ("max_files", 0), ("max_files", "9")):
        with pytest.raises(OtterfileError, match=f"^{field}: expected"):
            RUNTIME.check(systemd(command="./a", port=1, **{field: bad}))


def test_the_script_is_shellcheck_clean():
    assert shutil.which("shellcheck"), "install shellcheck (apt-get install shellcheck)"
    folder = Path(s.__file__).parent.parent / "scripts"
    done = subprocess.run(["shellcheck", "-s", "sh", str(folder / "unpack.sh")],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stdout

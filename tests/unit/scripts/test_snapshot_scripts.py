"""scripts/snapshot/take.sh, restore.sh and list.sh run here, on folders of a temporary
directory standing in for the data (a `printf` line as the runtime's data listing, `touch`
lines as pause and resume): the copy, its meta, keep, room, a failing `before`, the pause
undone, and a restore that checks before it stops anything."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from otterfile.command import Command, cmd, script
from otterfile.commands import snapshots as snaps

pytestmark = pytest.mark.unit


def run(command: Command) -> subprocess.CompletedProcess:
    return subprocess.run(command.argv_values(), capture_output=True, text=True, timeout=60)


def listing(*pairs: tuple[str, Path]) -> Command:
    text = "".join(f"{label} {path}\n" for label, path in pairs)
    return cmd("printf", "%s", text)


def take(tmp_path: Path, name: str, data: Command, *, live: str = "r0", keep: int = 2,
         before: Command | None = None, pause: bool = True) -> subprocess.CompletedProcess:
    marks = tmp_path / "marks"
    marks.mkdir(exist_ok=True)
    command = snaps.take("production", name, live=live, keep=keep, data=data,
                         pause=cmd("touch", str(marks / "paused")) if pause else None,
                         resume=cmd("touch", str(marks / "resumed")) if pause else None,
                         before=before)
    args = list(command.argv_values())
    args[4] = str(tmp_path / "snapshots")  # DIR, not /var/lib/otter
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


@pytest.fixture
def data(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    (folder / "db").write_text("v1\n")
    return folder


def test_a_snapshot_holds_the_data_and_says_what_it_took(tmp_path, data):
    done = take(tmp_path, "20240102T030405-0a1b2c3d", listing(("data", data)))
    assert done.returncode == 0, done.stderr
    meta = snaps.parse_meta(done.stdout)
    assert meta is not None
    assert (meta.before, meta.live, meta.how, meta.sources) == \
        ("20240102T030405-0a1b2c3d", "r0", "paused", ("data",))
    archive = tmp_path / "snapshots/20240102T030405-0a1b2c3d/data.tar.gz"
    assert meta.bytes == archive.stat().st_size
    assert (tmp_path / "marks/paused").exists() and (tmp_path / "marks/resumed").exists()
    assert snaps.values(done.stdout)["mount"].startswith("/")
    listed = subprocess.run(script(snaps.LIST_SCRIPT, args=[str(tmp_path / "snapshots")])
                            .argv_values(), capture_output=True, text=True)
    now, found = snaps.parse_listing(listed.stdout)
    assert now > 0 and [s.before for s in found] == ["20240102T030405-0a1b2c3d"]


def test_keep_prunes_the_oldest(tmp_path, data):
    names = [f"2024010{i}T000000-0a1b2c3d" for i in range(1, 5)]
    for name in names:
        done = take(tmp_path, name, listing(("data", data)), keep=2)
        assert done.returncode == 0, done.stderr
    assert snaps.pruned(done.stdout) == [names[1]]
    assert sorted(p.name for p in (tmp_path / "snapshots").iterdir()) == names[2:]


def test_no_data_yet_takes_none(tmp_path):
    done = take(tmp_path, "r1", cmd("true"))
    assert (done.returncode, done.stdout) == (0, "snapshot=none\n")
    assert not (tmp_path / "marks/paused").exists()


def test_a_failing_before_leaves_nothing_and_pauses_nothing(tmp_path, data):
    done = take(tmp_path, "r1", listing(("data", data)), before=cmd("sh", "-c", "exit 3"))
    assert done.returncode == snaps.EXIT_BEFORE
    assert snaps.values(done.stdout)["exit"] == "3"
    assert list((tmp_path / "snapshots").iterdir()) == []
    assert not (tmp_path / "marks/paused").exists()


def test_before_runs_instead_of_a_pause(tmp_path, data):
    done = take(tmp_path, "r1", listing(("data", data)),
                before=cmd("sh", "-c", f"echo dumped > {data}/dump"))
    assert done.returncode == 0, done.stderr
    assert snaps.values(done.stdout)["how"] == "before"
    assert not (tmp_path / "marks/paused").exists()


def test_no_room_refuses_before_copying(tmp_path, data):
    big = listing(("data", data))
    command = snaps.take("production", "r1", live="", keep=1, data=big, pause=None,
                         resume=None, before=None)
    args = list(command.argv_values())
    args[4] = str(tmp_path / "snapshots")
    # df reports no room: a stand-in df on PATH
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "df").write_text("#!/bin/sh\necho 'Filesystem 1024-blocks Used Available "
                             "Capacity Mounted on'\necho '/dev/x 100 100 0 100% /'\n")
    (fake / "df").chmod(0o755)
    done = subprocess.run(args, capture_output=True, text=True,
                          env={**os.environ, "PATH": f"{fake}:{os.environ['PATH']}"})
    assert done.returncode == snaps.EXIT_ROOM, done.stderr
    assert snaps.values(done.stdout)["free"] == "0"
    assert list((tmp_path / "snapshots").iterdir()) == []


def restore(tmp_path: Path, name: str, data_of: str, data: Command,
            stop: Command | None) -> subprocess.CompletedProcess:
    args = list(snaps.restore("production", name, data_of=data_of, data=data, stop=stop)
                .argv_values())
    args[4] = str(tmp_path / "snapshots")
    return subprocess.run(args, capture_output=True, text=True, timeout=60)


def test_a_restore_puts_the_data_back_after_stopping(tmp_path, data):
    assert take(tmp_path, "r1", listing(("data", data)), live="r0").returncode == 0
    (data / "db").write_text("v2\n")
    (data / "new").write_text("made by r1\n")
    stopped = tmp_path / "marks/stopped"
    done = restore(tmp_path, "r1", "r0", listing(("data", data)),
                   cmd("touch", str(stopped)))
    assert done.returncode == 0, done.stderr
    assert snaps.restored(done.stdout) == ["data"] and stopped.exists()
    assert sorted(p.name for p in data.iterdir()) == ["db"]
    assert (data / "db").read_text() == "v1\n"


@pytest.mark.parametrize("name, data_of, labels, code", [
    ("r9", "r0", ["data"], snaps.EXIT_MISSING),  # no such snapshot
    ("r1", "r5", ["data"], snaps.EXIT_OTHER_DATA),  # it holds r0's data, not r5's
    ("r1", "r0", ["volume-x"], snaps.EXIT_UNDECLARED),  # "data" is no longer declared
])
def test_a_restore_that_cannot_be_right_changes_nothing(tmp_path, data, name, data_of,
                                                        labels, code):
    assert take(tmp_path, "r1", listing(("data", data)), live="r0").returncode == 0
    (data / "db").write_text("v2\n")
    stopped = tmp_path / "marks/stopped"
    done = restore(tmp_path, name, data_of, listing(*[(label, data) for label in labels]),
                   cmd("touch", str(stopped)))
    assert done.returncode == code, done.stdout + done.stderr
    assert not stopped.exists() and (data / "db").read_text() == "v2\n"

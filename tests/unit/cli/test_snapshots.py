"""`otter rollback --with-data` refuses before any host is reached when it cannot ask (no
terminal, no --yes) or the deployment keeps no snapshots; `otter snapshots` prints a table
of what each target has; ages read as people say them."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.report.snapshots import age, rows
from otterfile.commands.snapshots import Snapshot
from otterfile.run.snapshots import Found

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime=docker(port=8080, volumes=["pg:/pg"]),
                      targets=[ssh("root@web1.invalid")]{snapshots})
'''


def invoke(tmp_path, snapshots, *args):
    (tmp_path / "Otterfile.py").write_text(FILE.format(snapshots=snapshots))
    return CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), *args])


def test_without_a_terminal_and_yes_it_refuses_and_reaches_no_host(tmp_path, monkeypatch):
    import otterfile.executors as executors
    monkeypatch.setattr(executors, "executor_for", lambda *a, **k: pytest.fail("connected"))
    done = invoke(tmp_path, ", snapshots=Snapshots()", "rollback", "production",
                  "--with-data")
    assert done.exit_code == 2, done.output
    assert "no terminal to ask on; pass --yes" in done.output
    assert "nothing was changed" in done.output


def test_a_deployment_without_snapshots_has_no_data_to_roll_back(tmp_path):
    done = invoke(tmp_path, "", "rollback", "production", "--with-data", "--yes")
    assert done.exit_code == 2, done.output
    assert "production declares no Deployment(snapshots=Snapshots(...))" in done.output


def test_the_table_marks_what_a_rollback_with_data_restores():
    old, new = Snapshot("R1", "", 100, 10, "idle"), Snapshot("R2", "R1", 400, 3 << 20,
                                                             "paused", 0.31, ("volume-pg",))
    table = rows("web1", Found(3700, [old, new], "R2", new))
    assert table == [["web1", "R1", "-", "10 B", "1h", "nothing ran", ""],
                     ["web1", "R2 (rollback --with-data)", "R1", "3.0 MB", "55m",
                      "pause 0.31s", "volume pg"]]


@pytest.mark.parametrize("seconds, said", [(5, "5s"), (60, "1m"), (7200, "2h"),
                                           (3 * 86400 + 5, "3d"), (-4, "0s")])
def test_age(seconds, said):
    assert age(seconds) == said

"""The drift gate's texts: the generated files' read (read-files.sh, run for real) parsed
back, a unit as systemd/start.sh installs it, env files masked, unified diffs."""
from __future__ import annotations

import pytest

from otterfile.command import script
from otterfile.executors.local import LocalExecutor
from otterfile.run.drift_files import OTHER, as_started, mask_env, parse_files, unified
from otterfile.scripts import load

pytestmark = pytest.mark.unit

UNIT = """[Service]
Environment=PORT=<port>
EnvironmentFile=/var/lib/otter/web/env/R1.env
ExecStart=python3 server.py --port 8080
"""


def test_the_read_prints_each_file_matching_a_glob_and_parses_back_exactly(tmp_path):
    (tmp_path / "env").mkdir()
    (tmp_path / "env" / "R1.env").write_text("A=1\n")
    (tmp_path / "env" / "R2.env").write_text("B=2")  # no newline at its end
    (tmp_path / "unit@R1.service").write_text("--- otter:file not a marker\n\n--- otter:site\n")
    read = LocalExecutor().run(script(load("read-files.sh"), args=[
        str(tmp_path / "env" / "*.env"), str(tmp_path / "unit@*.service"),
        str(tmp_path / "none" / "*.env")]))
    assert read.exited == 0, read.stderr
    assert parse_files(read.stdout) == {
        str(tmp_path / "env" / "R1.env"): "A=1\n", str(tmp_path / "env" / "R2.env"): "B=2\n",
        str(tmp_path / "unit@R1.service"): "--- otter:file not a marker\n\n--- otter:site\n"}
    assert "\n--- otter:site\n" not in read.stdout  # nor as the target read's marker
    assert parse_files("") == {}


def test_a_unit_compares_with_the_port_picked_and_the_program_resolved():
    installed = UNIT.replace("<port>", "20001").replace("python3 ", "/usr/bin/python3 ")
    assert as_started(UNIT, 20001, installed) == installed
    # another argument: the program stays as generated, so the diff shows the line
    other = installed.replace("8080", "9090")
    assert "ExecStart=python3 server.py --port 8080" in as_started(UNIT, 20001, other)
    # a path the program does not end: not resolved from it
    odd = installed.replace("/usr/bin/python3", "/usr/bin/python3.11")
    assert "ExecStart=python3 server.py" in as_started(UNIT, 20001, odd)
    assert as_started(UNIT + "\n\n", None, "").endswith("--port 8080\n")
    assert "Environment=PORT=<port>" in as_started(UNIT, None, "")


def test_env_values_show_only_where_the_otterfile_gives_a_plain_value():
    declared = "A=1\nTOKEN=s3cret\n"
    secret = frozenset({"TOKEN"})
    assert mask_env(declared, declared, secret) == "A=1\nTOKEN=***\n"
    there = "A=2\nTOKEN=old-s3cret\nGONE=was-a-secret?\n# note s3cret\n\n"
    shown = mask_env(there, declared, secret)
    assert shown == f"A=2\nTOKEN={OTHER}\nGONE=***\n***\n\n"
    assert "s3cret" not in shown and "was-a-secret" not in shown
    # systemd's quoted form compares whole lines alike
    quoted = 'A="1"\nTOKEN="s3cret"\n'
    assert mask_env(quoted, quoted, secret) == 'A="1"\nTOKEN=***\n'
    assert mask_env("", declared, secret) == ""


def test_a_unified_diff_goes_from_the_target_to_the_otterfile():
    diff = unified("a\nb\n", "a\nc\n", "web1:/site", "Otterfile")
    assert diff.splitlines() == ["--- web1:/site", "+++ Otterfile", "@@ -1,2 +1,2 @@",
                                 " a", "-b", "+c"]
    assert unified("a\nb\n", "a\nb\n", "x", "y") == ""
    assert unified("a\nb", "a\nb\n", "x", "y") == ""  # only the last newline: the same lines
    assert unified("", "a\n", "/dev/null", "Otterfile").startswith("--- /dev/null\n")


def test_the_target_read_ends_with_the_files_and_a_hand_edited_site_keeps_its_marker(tmp_path):
    from otterfile.run import target as reads
    (tmp_path / "site").write_text("app.test {\n}")  # edited by hand: no newline at its end
    (tmp_path / "a.env").write_text("A=1\n")
    files = script(load("read-files.sh"), args=[str(tmp_path / "*.env")])
    read = LocalExecutor().run(script(load("read-target.sh"), args=[
        str(tmp_path / "site"), str(tmp_path / "upstream"), "", "", "", "", "", "",
        str(tmp_path / "started"), files.shell_line(), "sh", "-c", "echo state"]))
    assert read.exited == 0, read.stderr
    parts = reads.sections(read.stdout)
    assert parts[reads.SITE_MARK] == "app.test {\n}\n"
    assert parse_files(parts[reads.FILES_MARK]) == {str(tmp_path / "a.env"): "A=1\n"}

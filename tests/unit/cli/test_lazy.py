"""The `otter` group imports a command's module when the command is asked for
(cli/lazy.py): every command is there, named as before; `otter rollback` does not import
the other verbs' modules; a typo still gets click's suggestion."""
from __future__ import annotations

import subprocess
import sys

import click
import pytest
from click.testing import CliRunner

from otterfile.cli import COMMANDS, main
from otterfile.cli.lazy import LazyCommands

pytestmark = pytest.mark.unit

VERBS = ["exec", "graph", "init", "list", "logs", "maintenance", "plan", "remove",
         "rollback", "run", "snapshots", "status", "tunnel", "unlock"]


def test_every_command_is_listed_and_loads_under_its_name():
    assert sorted(main.commands) == VERBS == sorted(COMMANDS)
    for name in VERBS:
        command = main.commands[name]
        assert isinstance(command, click.Command) and command.name == name


def test_rollback_imports_only_its_own_module():
    code = ("import sys; from click.testing import CliRunner; from otterfile.cli import main; "
            "CliRunner().invoke(main, ['rollback', '--help'], catch_exceptions=False); "
            "print(*sorted(m for m in sys.modules if m.startswith('otterfile.cli.')))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "otterfile.cli.deploy" in loaded
    others = {module for module, _ in COMMANDS.values()} - {"otterfile.cli.deploy"}
    assert not loaded & others, loaded & others


def test_a_typo_is_answered_with_the_commands_names():
    done = CliRunner().invoke(main, ["rollbak"])
    assert done.exit_code == 2 and "Did you mean 'rollback'?" in done.output, done.output


def test_a_name_that_names_another_command_is_refused():
    commands = LazyCommands({"run": ("otterfile.cli.deploy", "rollback")})
    assert "run" in commands and list(commands) == ["run"] and len(commands) == 1
    with pytest.raises(TypeError, match="is not the command 'run'"):
        commands["run"]
    assert commands.get("nope") is None

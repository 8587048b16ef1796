"""executors/preamble.py: a remote command's secret env values go first on its stdin, one
line each, read by the remote shell before the command runs; the command's own input
follows untouched (a shell reads a pipe byte by byte)."""
from __future__ import annotations

import os
import subprocess

import pytest

from otterfile.command import cmd, script
from otterfile.errors import ExecutionError
from otterfile.executors.preamble import Preamble, preamble
from otterfile.secrets import Secret

pytestmark = pytest.mark.unit

OWN_INPUT = os.urandom(300_000) + b"\nlast line without its newline"


def test_a_command_without_secrets_is_sent_as_it_is():
    command = cmd("git", "fetch", env={"GIT_TERMINAL_PROMPT": "0"})
    first = preamble(command, "web1")
    assert first == Preamble() and first.line("LINE") == "LINE"
    assert first.before(b"data") == b"data" and first.before(None) is None


def test_each_secret_is_read_and_exported_before_the_line():
    command = cmd("git", "fetch", env=(("GIT_ASKPASS", "/a"), ("USER_NAME", Secret("U", "u")),
                                       ("OTTER_GIT_PASSWORD", Secret("T", "to ken\\'\""))))
    first = preamble(command, "web1")
    assert first.reads == ('IFS= read -r otter_secret && export USER_NAME="$otter_secret" && '
                           'IFS= read -r otter_secret && export OTTER_GIT_PASSWORD='
                           '"$otter_secret" && unset otter_secret && ')
    assert first.data == b"u\nto ken\\'\"\n"
    line = command.shell_line(without_secret_env=True)
    assert line == "env GIT_ASKPASS=/a git fetch" and "to ken" not in first.line(line)
    assert first.before(b"in") == first.data + b"in"
    assert b"".join(first.before(iter([b"a", b"b"]))) == first.data + b"ab"  # type: ignore


@pytest.mark.parametrize("value", ["two\nlines", "cr\r", "nul\0"])
def test_a_value_that_is_not_one_line_is_refused_without_showing_it(value):
    command = cmd("git", "fetch", env={"OTTER_GIT_PASSWORD": Secret("GIT_TOKEN", value)})
    with pytest.raises(ExecutionError) as error:
        preamble(command, "builder")
    assert str(error.value).startswith("builder: secret GIT_TOKEN (env OTTER_GIT_PASSWORD)")
    assert value not in str(error.value)


def test_an_env_name_the_shell_cannot_export_is_refused():
    command = cmd("true", env={"A-B": Secret("S", "v")}, description="try")
    with pytest.raises(ExecutionError, match="builder: try: env name 'A-B' is not an"):
        preamble(command, "builder")


@pytest.mark.parametrize("shell", ["sh", "bash"])
def test_the_remote_shell_reads_the_values_and_leaves_the_input_to_the_command(shell):
    command = script('printf "%s|%s|%s\\n" "$A" "$B" "${otter_secret-unset}"; cat',
                     env={"A": Secret("A", " lead and trail "), "B": Secret("B", "x\\y")})
    first = preamble(command, "web1")
    line = first.line(command.shell_line(without_secret_env=True))
    done = subprocess.run([shell, "-c", line], input=first.before(OWN_INPUT),
                          capture_output=True, check=True)
    said, _, rest = done.stdout.partition(b"\n")
    assert said == b" lead and trail |x\\y|unset" and rest == OWN_INPUT


def test_a_command_without_input_still_gets_its_values():
    command = cmd("sh", "-c", 'test "$T" = tok', env={"T": Secret("T", "tok")})
    first = preamble(command, "web1")
    done = subprocess.run(["sh", "-c", first.line(command.shell_line(without_secret_env=True))],
                          input=first.data)
    assert done.returncode == 0

"""The watch script (scripts/watch.sh) as the ssh executor sends it, run by local shells the
way sshd starts a session's shell (leader of a session of its own): a command's status and
output pass through, and the end of its input stops its whole process group."""
from __future__ import annotations

import concurrent.futures
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from otterfile.command import Command, host_line
from otterfile.executors.openssh import watched
from otterfile.executors.ssh import _line
from otterfile.executors.preamble import preamble
from otterfile.secrets import Secret

pytestmark = pytest.mark.unit

SHELLS = [shell for shell in ("sh", "bash", "dash") if shutil.which(shell)]


def _running(text: str, exact: bool = False) -> list[int]:
    """Pids whose command line holds `text` (is it, `exact`); not zombies: nobody here
    reaps orphans."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            line = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if (line.strip() == text if exact else text in line) and state != "Z":
            found.append(int(entry.name))
    return found


def _gone_within(text: str, seconds: float, exact: bool = False) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _running(text, exact):
            return True
        time.sleep(0.05)
    return False


def _session(shell: str, line: str, leader: bool = True) -> subprocess.Popen[bytes]:
    """`line` watched, run by `shell` as sshd runs a session's command (a new session when
    `leader`), its stdin a pipe held open until the test closes it."""
    return subprocess.Popen([shell, "-c", watched(line)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=leader)


def _held(process: subprocess.Popen[bytes]) -> tuple[int, bytes, bytes]:
    """Its status and output, its input held open until it ended (as otter holds it)."""
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        out, err = pool.submit(process.stdout.read), pool.submit(process.stderr.read)
        code = process.wait(timeout=20)
        result = code, out.result(timeout=20), err.result(timeout=20)
    process.stdin.close()
    return result


@pytest.mark.parametrize("shell", SHELLS)
def test_status_output_and_errors_pass_through(shell):
    process = _session(shell, "cd /tmp && env A=1 sh -c 'echo \"$A $PWD\"; echo err >&2; exit 7'")
    assert _held(process) == (7, b"1 /tmp\n", b"err\n")


@pytest.mark.parametrize("shell", SHELLS)
def test_a_command_killed_by_a_signal_exits_128_plus_it_and_says_nothing(shell):
    process = _session(shell, "sh -c 'kill -9 $$'")
    assert _held(process) == (137, b"", b"")


@pytest.mark.parametrize("shell", SHELLS)
def test_the_command_reads_no_input(shell):
    # alive while the input is written (a bare `cat` of /dev/null may have ended, and the
    # write met a closed pipe); then `cat` would print what it read
    process = _session(shell, "sleep 0.3; cat")
    process.stdin.write(b"not for the command\n")
    process.stdin.flush()
    assert _held(process) == (0, b"", b"")


@pytest.mark.parametrize("shell", SHELLS)
def test_the_end_of_input_stops_the_whole_process_group(shell):
    unique = f"{os.getpid() % 1000}{time.monotonic_ns() % 10**6}"
    sleeps = [f"sleep 301.{unique}", f"sleep 302.{unique}"]  # the command and its child
    process = _session(shell, f"sh -c '{sleeps[0]} & {sleeps[1]}'")
    try:
        deadline = time.monotonic() + 10
        while not all(_running(s, exact=True) for s in sleeps) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert all(_running(s, exact=True) for s in sleeps), "the command never started"
        process.stdin.close()  # what otter's end looks like to the host
        assert process.wait(timeout=10) == -15  # the login shell is in the group too
        assert all(_gone_within(s, 3, exact=True) for s in sleeps), \
            "the command outlived its input"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, 9)


@pytest.mark.parametrize("shell", SHELLS)
def test_what_a_command_left_running_survives_its_normal_end(shell):
    sleep = f"sleep 304.{os.getpid() % 1000}{time.monotonic_ns() % 10**6}"
    process = _session(shell, f"sh -c '{sleep} >/dev/null 2>&1 &'")
    try:
        assert _held(process) == (0, b"", b"")
        time.sleep(0.5)  # the watcher, ended with the command, stops nothing
        assert _running(sleep, exact=True), "a command's leftover was stopped after its end"
    finally:
        for pid in _running(sleep, exact=True):
            os.kill(pid, 9)


def test_without_a_process_group_of_its_own_only_the_command_is_stopped():
    sleep = f"sleep 303.{os.getpid() % 1000}{time.monotonic_ns() % 10**6}"
    process = _session("sh", sleep, leader=False)
    try:
        deadline = time.monotonic() + 10
        while not _running(sleep, exact=True) and time.monotonic() < deadline:
            time.sleep(0.05)
        process.stdin.close()
        assert process.wait(timeout=10) == 143  # this test's own group was not signalled
        assert _gone_within(sleep, 3, exact=True)
    finally:
        if process.poll() is None:
            process.kill()


def test_a_secret_env_read_goes_before_the_watched_line():
    command = Command(("sh", "-c", 'echo "$TOKEN"'), env=(("TOKEN", Secret("T", "s3")),))
    first = preamble(command, "host")
    line = first.line(watched(command.shell_line(without_secret_env=True)))
    process = subprocess.Popen(["sh", "-c", line], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, start_new_session=True)
    process.stdin.write(first.data)
    process.stdin.flush()
    out = process.stdout.read()
    process.stdin.close()
    assert (process.wait(timeout=20), out) == (0, b"s3\n")


def test_the_script_is_shellcheck_clean():
    assert shutil.which("shellcheck"), "install shellcheck (apt-get install shellcheck)"
    script = Path(__file__).resolve().parents[3] / "otterfile" / "scripts" / "watch.sh"
    done = subprocess.run(["shellcheck", "-s", "sh", str(script)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout


@pytest.mark.parametrize("shell", SHELLS)
def test_a_persons_line_runs_in_the_login_shell_itself_comment_and_all(shell):
    line = _line(host_line('echo "$(echo a)"; echo b # a comment'))
    assert line == 'echo "$(echo a)"; echo b # a comment'  # no sh started for it
    assert _held(_session(shell, line)) == (0, b"a\nb\n", b"")


def test_only_a_bare_persons_line_skips_the_quoting():
    assert _line(Command(("sh", "-c", "echo a; echo b"))) == "sh -c 'echo a; echo b'"
    moved = Command(("sh", "-c", "ls"), cwd="/tmp", login_shell=True)
    assert _line(moved) == "cd /tmp && sh -c ls"

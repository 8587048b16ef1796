"""The ship's receive followed by the start in one round trip (scripts/store/then.sh,
commands/store.receive_then, transfer/ship_file's parting of the output) run for real with
sh on this machine: the next command's input goes first on stdin and reaches it whole, the
file after it reaches the store; the next command never runs when the file is not stored
(a wrong digest, an input cut short); which steps sit between the ship and the start."""
from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest

from otterfile.command import SecretText, cmd, script
from otterfile.commands import store
from otterfile.executors.base import Result
from otterfile.executors.local import LocalExecutor
from otterfile.load.project import StepDef
from otterfile.run.early_start import step_between
from otterfile.transfer.ship_file import _beside, _parted, _Prefixed

pytestmark = pytest.mark.unit

ENV = SecretText("A=1\nB='two words'\n\n")


def run(tmp_path: Path, data: bytes, env: str | None, *, want: str | None = None,
        first: bytes | None = None):
    """The receive of `data` into tmp_path/store, then a command that copies its stdin to
    tmp_path/env and prints `port=1`."""
    receive = store.receive(want or hashlib.sha256(data).hexdigest(), str(tmp_path / "store"))
    then = script('cat > "$1"; echo port=1', args=[str(tmp_path / "env")],
                  stdin=env, description="start")
    both, sent = store.receive_then(receive, then)
    stream = _Prefixed(sent if first is None else first, io.BytesIO(data))
    result = LocalExecutor().run(both, stdin=stream)
    return _parted(result, receive, then)


def test_the_input_goes_first_then_the_file_is_stored_then_the_next_command_runs(tmp_path):
    data = b"archive bytes\n" * 1000
    stored, then = run(tmp_path, data, ENV)
    assert stored.ok and then is not None and then.ok, (stored, then)
    assert then.stdout == "port=1\n" and "otter: stored" not in then.stderr
    assert (tmp_path / "env").read_text() == ENV  # every byte, its trailing newlines too
    assert (tmp_path / "store" / hashlib.sha256(data).hexdigest()).read_bytes() == data


def test_without_input_the_next_command_reads_nothing(tmp_path):
    stored, then = run(tmp_path, b"x" * 10, None)
    assert stored.ok and then is not None and then.ok
    assert (tmp_path / "env").read_bytes() == b""


def test_a_wrong_digest_never_runs_the_next_command(tmp_path):
    stored, then = run(tmp_path, b"archive", ENV, want="0" * 64)
    assert then is None and stored.exited == store.EXIT_MISMATCH, stored
    assert "received sha256" in stored.stderr
    assert not (tmp_path / "env").exists()


def test_an_input_cut_short_never_runs_the_next_command(tmp_path):
    stored, then = run(tmp_path, b"", ENV, first=ENV.encode()[:4])
    assert then is None and not stored.ok, stored
    assert "ended early" in stored.stderr
    assert not (tmp_path / "env").exists()


def test_the_next_commands_failure_is_its_own(tmp_path):
    data = b"archive"
    receive = store.receive(hashlib.sha256(data).hexdigest(), str(tmp_path / "store"))
    then = script('echo "otter: no free port" >&2; exit 4', description="start")
    both, sent = store.receive_then(receive, then)
    stored, after = _parted(LocalExecutor().run(both, stdin=_Prefixed(sent, io.BytesIO(data))),
                            receive, then)
    assert stored.ok and after is not None and after.exited == 4
    assert after.stderr == "otter: no free port\n"


def test_parted_without_the_marker_is_the_receives_result():
    receive, then = cmd("true"), cmd("true")
    result = Result(receive, 1, "", "otter: storing failed\n")
    assert _parted(result, receive, then) == (result, None)


def test_prefixed_reads_the_first_bytes_then_the_stream():
    stream = _Prefixed(b"abc", io.BytesIO(b"defgh"))
    assert [stream.read(2), stream.read(2), stream.read(2), stream.read(-1)] == \
        [b"ab", b"c", b"de", b"fgh"]


def step(name: str, before: str | None = None, after: str | None = None) -> StepDef:
    return StepDef(name=name, fn=lambda ctx: None, deployment="production", on="targets",
                   before=before, after=after, line=1)


@pytest.mark.parametrize("steps, between", [
    ((), False),
    ((step("a", after="ship"),), True),
    ((step("a", before="start"),), True),
    ((step("a", before="ship"), step("b", after="start"), step("c", after="switch")), False),
    ((step("a", after="ship"), step("b", after="a")), True),
    ((step("a", after="switch"), step("b", before="a")), False),
])
def test_a_step_between_the_ship_and_the_start(steps, between):
    class Dep:
        pass
    dep = Dep()
    dep.steps = list(steps)
    assert step_between(dep) is between


def test_a_command_beside_runs_with_the_next_and_says_after_it(tmp_path):
    data = b"archive"
    receive = store.receive(hashlib.sha256(data).hexdigest(), str(tmp_path / "store"))
    then = script('cat > "$1"; echo port=7; echo unit=u', args=[str(tmp_path / "env")],
                  stdin=ENV, description="start")
    beside = script('cat > "$1"; echo installed', args=[str(tmp_path / "site")],
                    stdin="site text\n", description="site")
    both, sent = store.receive_then(receive, then, beside)
    stored, after = _parted(LocalExecutor().run(both, stdin=_Prefixed(sent, io.BytesIO(data))),
                            receive, then)
    assert stored.ok and after is not None
    after, aside = _beside(after, beside)
    assert after.ok and after.stdout == "port=7\nunit=u\n", after
    assert aside is not None and aside.ok and aside.stdout == "installed\n"
    assert (tmp_path / "site").read_text() == "site text\n"
    assert (tmp_path / "env").read_text() == ENV


def test_a_failing_start_and_its_beside_each_say_their_own():
    then, beside = cmd("start"), cmd("site")
    after = Result(then, 1, "otter: beside 5\nreload failed\n", "otter: start failed\n")
    started, aside = _beside(after, beside)
    assert started.exited == 1 and started.stdout == "" and "start failed" in started.stderr
    assert aside is not None and aside.exited == 5 and aside.stdout == "reload failed\n"
    assert _beside(Result(then, 0, "port=1\n"), beside)[1] is None  # it never ran

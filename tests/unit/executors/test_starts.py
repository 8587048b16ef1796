"""Connection starts: at most N handshakes in flight, a start the server dropped tried again
with backoff within bounds, a refused key or host key never tried again. A fake `ssh` on
PATH plays the server's part (the real sshd: tests/integration/test_connect_cap.py)."""
from __future__ import annotations

import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from otterfile.command import cmd
from otterfile.errors import OtterError
from otterfile.executors import starts as starts_module
from otterfile.executors.openssh import ConnectionFailed
from otterfile.executors.ssh import SSHExecutor
from otterfile.executors.starts import Starts, dropped, start_limit
from otterfile.hosts import SSHHost
from tests.fakes import executable

pytestmark = pytest.mark.unit

DROPPED = "kex_exchange_identification: Connection closed by remote host\n" \
          "Connection closed by 10.0.0.9 port 22\n"
# The fake ssh: logs each call; drops the first $FAKE_DROPS starts (a file counts them), or
# refuses as $FAKE_REFUSE says; else "authenticates" after $FAKE_HANDSHAKE seconds (binds
# the ControlPath socket, as a master does) and runs the command (echo).
FAKE_SSH = f"""#!{sys.executable}
import json, os, socket, sys, time
args = sys.argv[1:]
options = dict(a.split("=", 1) for a in args if "=" in a and not a.startswith("-"))
log = os.environ["FAKE_LOG"]
def note(**what):
    with open(log, "a") as f:
        f.write(json.dumps({{"pid": os.getpid(), "t": time.monotonic(), **what}}) + "\\n")
if "-O" in args:
    sys.exit(255)
note(event="begin", master=options.get("ControlMaster"))
counter = os.environ["FAKE_COUNTER"]
with open(counter, "a+") as f:
    f.seek(0)
    count = len(f.read())
    f.write("x")
if count < int(os.environ.get("FAKE_DROPS", "0")):
    time.sleep(0.02)
    note(event="dropped")
    sys.stderr.write({DROPPED!r})
    sys.exit(255)
if os.environ.get("FAKE_REFUSE"):
    sys.stderr.write(os.environ["FAKE_REFUSE"] + "\\n")
    sys.exit(255)
if os.environ.get("FAKE_WARN"):
    sys.stderr.write(os.environ["FAKE_WARN"] + "\\n")
    sys.stderr.flush()
time.sleep(float(os.environ.get("FAKE_HANDSHAKE", "0")))
peers, waited = int(os.environ.get("FAKE_PEERS", "0")), 0
while waited < 200 and sum('"begin"' in line for line in open(log)) < peers:
    time.sleep(0.05)  # bounded (10 s): until as many handshakes as the limit have begun
    waited += 1
note(event="authenticated")
if options.get("ControlMaster") != "no":
    socket.socket(socket.AF_UNIX).bind(options["ControlPath"])
if options.get("ControlMaster") != "yes":
    print("ran:", args[-1][-20:])
"""


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """The fake ssh first on PATH; its log; a fresh gate with recorded (not slept) pauses."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    executable(bin_dir / "ssh", FAKE_SSH)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_LOG", str(tmp_path / "log"))
    monkeypatch.setenv("FAKE_COUNTER", str(tmp_path / "counter"))
    pauses: list[float] = []
    gate = Starts(8, sleep=pauses.append)
    monkeypatch.setattr(starts_module, "_shared", [gate])
    yield {"dir": tmp_path, "pauses": pauses, "gate": gate,
           "log": lambda: [json.loads(line) for line in
                           (tmp_path / "log").read_text().splitlines()]}


def executor(fake, name: str = "web1") -> SSHExecutor:
    folder = fake["dir"] / f"c-{name}"  # each host its own socket folder
    return SSHExecutor(SSHHost(hostname=name, user="root"), control_dir=str(folder))


def test_a_dropped_start_is_tried_again_then_the_command_runs(fake, monkeypatch):
    monkeypatch.setenv("FAKE_DROPS", "2")
    result = executor(fake).run(cmd("echo", "hi"))
    assert result.ok and "ran:" in result.stdout and "kex_exchange" not in result.stderr
    events = [e["event"] for e in fake["log"]()]
    assert events == ["begin", "dropped", "begin", "dropped", "begin", "authenticated"]
    first, second = fake["pauses"]
    assert 0 < first < second  # backing off


def test_what_ssh_says_reaches_the_output_unless_the_try_was_dropped(fake, monkeypatch):
    monkeypatch.setenv("FAKE_DROPS", "1")
    monkeypatch.setenv("FAKE_WARN", "Warning: Permanently added 'web1' (ED25519) to the list")
    seen: list[tuple[str, str]] = []
    result = executor(fake).run(cmd("echo", "hi"), on_output=lambda *line: seen.append(line))
    assert result.ok
    # stdout and stderr are read by two threads: their lines may come in either order
    by_stream = {stream: [line for s, line in seen if s == stream]
                 for stream in ("stdout", "stderr")}
    assert by_stream["stderr"] == ["Warning: Permanently added 'web1' (ED25519) to the list"]
    assert len(by_stream["stdout"]) == 1 and by_stream["stdout"][0].startswith("ran:")
    assert len(seen) == 2  # the dropped try said nothing


def test_a_stream_input_starts_a_master_first_and_it_is_tried_again_too(fake, monkeypatch):
    import io
    monkeypatch.setenv("FAKE_DROPS", "1")
    ssh = executor(fake)
    result = ssh.run(cmd("cat"), stdin=io.BytesIO(b"data"))
    assert result.ok
    begins = [e["master"] for e in fake["log"]() if e["event"] == "begin"]
    assert begins == ["yes", "yes", "no"]  # master (dropped), master, the command over it


@pytest.mark.parametrize("refusal", [
    "root@web1: Permission denied (publickey).",
    "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
    "@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n"
    "Host key verification failed.",
    "No ED25519 host key is known for web1 and you have requested strict checking.\n"
    "Host key verification failed.",
])
def test_a_refused_key_or_host_key_is_never_tried_again(fake, monkeypatch, refusal):
    monkeypatch.setenv("FAKE_REFUSE", refusal)
    with pytest.raises(ConnectionFailed) as failed:
        executor(fake).run(cmd("true"))
    assert [e["event"] for e in fake["log"]()] == ["begin"]
    assert fake["pauses"] == []
    assert "cannot connect to root@web1" in str(failed.value)
    assert refusal.splitlines()[-1] in str(failed.value)


def test_tries_are_bounded_and_the_error_names_the_host(fake, monkeypatch):
    monkeypatch.setenv("FAKE_DROPS", "1000")
    with pytest.raises(ConnectionFailed) as failed:
        executor(fake, "db7").run(cmd("true"))
    message = str(failed.value)
    tries = len([e for e in fake["log"]() if e["event"] == "begin"])
    assert tries == starts_module.TRIES
    assert message.startswith("cannot connect to root@db7: the server closed the connection "
                              f"before authenticating, on each of {tries} tries")
    assert "MaxStartups" in message and "OTTER_SSH_STARTS" in message
    assert "kex_exchange_identification" in message


def test_the_time_spent_trying_again_is_bounded():
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds

    def start(_authenticated):
        now[0] += 4.0  # each try takes 4 s before the server drops it
        return 255, DROPPED
    gate = Starts(8, tries=100, budget=30, sleep=sleep, clock=lambda: now[0])
    outcome = gate.attempt(start)
    assert outcome.code == 255 and 3 <= outcome.tries < 100
    assert now[0] <= 30 + 4  # no try starts after the budget; the last one may run out
    assert "on each of" in outcome.explained()


def test_at_most_the_limit_of_handshakes_are_in_flight(fake, monkeypatch):
    monkeypatch.setenv("FAKE_PEERS", "3")  # the first three meet: the limit is reached
    monkeypatch.setattr(starts_module, "_shared", [Starts(3)])
    hosts = [executor(fake, f"h{n}") for n in range(9)]
    with ThreadPoolExecutor(max_workers=9) as pool:
        results = list(pool.map(lambda e: e.run(cmd("true")), hosts))
    assert all(r.ok for r in results)
    spans, opened = [], {}
    for event in fake["log"]():
        if event["event"] == "begin":
            opened[event["pid"]] = event["t"]
        elif event["event"] == "authenticated":
            spans.append((opened.pop(event["pid"]), event["t"]))
    assert len(spans) == 9
    most = max(sum(1 for a, b in spans if a <= t < b) for t, _ in spans)
    assert most == 3  # the limit is reached (in parallel) and never passed


def test_a_started_master_gives_its_slot_back_while_its_command_runs(fake, monkeypatch):
    # a long command (logs -f) must not keep a start slot: the next host's start goes on
    gate = Starts(1)
    monkeypatch.setattr(starts_module, "_shared", [gate])
    long = threading.Thread(target=executor(fake, "a").run, args=(cmd("sleep", "7"),))
    monkeypatch.setenv("FAKE_HANDSHAKE", "0")
    release = fake["dir"] / "release"  # a's command runs until the test creates it
    executable(fake["dir"] / "bin" / "ssh", FAKE_SSH.replace(
        'print("ran:", args[-1][-20:])',
        'print("ran:", args[-1][-20:])\n'
        f'while "sleep 7" in args[-1] and not os.path.exists({str(release)!r}): time.sleep(0.05)'))
    long.start()
    try:
        result = executor(fake, "b").run(cmd("true"))
        assert result.ok and long.is_alive()  # b started while a's command still ran
    finally:
        release.touch()
        long.join(30)
    assert not long.is_alive() and gate.in_flight() == 0


@pytest.mark.parametrize("code, stderr, expected", [
    (255, "kex_exchange_identification: Connection closed by remote host", True),
    (255, "kex_exchange_identification: read: Connection reset by peer", True),
    (255, "ssh_exchange_identification: read: Connection reset by peer", True),
    (255, "Connection closed by remote host", True),
    (255, "root@h: Permission denied (publickey).", False),
    (255, "Host key verification failed.", False),
    (255, "ssh: connect to host h port 22: Connection refused", False),
    (255, "ssh: connect to host h port 22: Connection timed out", False),
    (1, "kex_exchange_identification: Connection closed by remote host", False),
])
def test_which_failures_are_a_dropped_start(code, stderr, expected):
    assert dropped(code, stderr) is expected


def test_the_limit_comes_from_the_environment(monkeypatch):
    monkeypatch.delenv("OTTER_SSH_STARTS", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert start_limit() == 64  # 32 per core
    monkeypatch.setattr(os, "cpu_count", lambda: None)  # unknown: one core
    assert start_limit() == 32
    monkeypatch.setenv("OTTER_SSH_STARTS", " 3 ")
    assert start_limit() == 3
    for bad in ("0", "-2", "many"):
        monkeypatch.setenv("OTTER_SSH_STARTS", bad)
        with pytest.raises(OtterError, match=f"OTTER_SSH_STARTS='{bad}': expected how many"):
            start_limit()

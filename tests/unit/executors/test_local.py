"""The local executor against real local processes."""
from __future__ import annotations

import hashlib
import http.server
import io
import os
import socket
import stat
import threading
import time

import pytest

from otterfile.command import Command, cmd, script
from otterfile.errors import ExecutionError
from otterfile.executors.base import ProbeFailed, Result
from otterfile.executors import pipes as pipes_module
from otterfile.executors.local import LocalExecutor
from otterfile.secrets import Secret
from tests.fakes import executable

pytestmark = pytest.mark.unit

SECRET = Secret("TOKEN", "s3cr3t-value")


# -- local -----------------------------------------------------------------------------------

@pytest.fixture
def local():
    ex = LocalExecutor()
    yield ex
    ex.close()


def test_exit_codes_stdout_stderr(local):
    result = local.run(script("echo out; echo err >&2; exit 3"))
    assert (result.exited, result.stdout, result.stderr, result.ok) == (3, "out\n", "err\n", False)
    assert result.host == "local" and result.duration > 0
    assert local.run(cmd("true")).ok


def test_ok_codes(local):
    assert local.run(Command(("sh", "-c", "exit 1"), ok_codes=(0, 1))).ok
    assert not local.run(Command(("sh", "-c", "exit 2"), ok_codes=(0, 1))).ok


def test_missing_program_and_missing_cwd_are_results_not_exceptions(local):
    assert local.run(cmd("otter-no-such-program")).exited == 127
    missing = local.run(cmd("true", cwd="/otter/no/such/dir"))
    assert missing.exited == 127 and "no such directory" in missing.stderr


def test_cwd_and_relative_program(local, tmp_path):
    executable(tmp_path / "hello.sh", "#!/bin/sh\npwd\n")
    assert local.run(cmd("pwd", cwd=str(tmp_path))).stdout == f"{tmp_path}\n"
    assert local.run(cmd("./hello.sh", cwd=str(tmp_path))).stdout == f"{tmp_path}\n"


def test_env_is_merged_with_ours(local, monkeypatch):
    monkeypatch.setenv("OTTER_OUTER", "outer")
    result = local.run(script('echo "$OTTER_OUTER $GREETING"', env={"GREETING": "a b"}))
    assert result.stdout == "outer a b\n"


def test_stdin_bytes_and_text(local):
    assert local.run(cmd("cat", stdin=b"\x00bytes")).stdout == "\x00bytes"
    assert local.run(cmd("cat", stdin="text")).stdout == "text"
    assert local.run(cmd("cat")).stdout == ""  # no stdin is EOF, never our terminal


def test_streamed_stdin_with_progress(local):
    data = os.urandom(3 * 1024 * 1024 + 17)
    seen = []
    result = local.run(cmd("sha256sum"), stdin=io.BytesIO(data), on_progress=seen.append)
    assert result.stdout.split()[0] == hashlib.sha256(data).hexdigest()
    assert seen[-1] == len(data) and len(seen) > 10  # in chunks, not at once


def test_on_output_streams_lines(local):
    seen = []
    local.run(script("echo one; echo two >&2; echo three"),
              on_output=lambda stream, line: seen.append((stream, line)))
    assert [x for x in seen if x[0] == "stdout"] == [("stdout", "one"), ("stdout", "three")]
    assert ("stderr", "two") in seen


def test_huge_output_is_streamed_but_capture_is_bounded(local, monkeypatch):
    monkeypatch.setattr(pipes_module, "CAPTURE_LIMIT", 10_000)
    count = []
    result = local.run(script('yes 0123456789abcdef | head -n 3000'),
                       on_output=lambda s, line: count.append(len(line) + 1))
    assert sum(count) == 3000 * 17  # every line still reaches on_output
    assert len(result.stdout) < 10_100 and "41004 more characters not kept" in result.stdout


def test_timeout(local):
    result = local.run(script("sleep 30; echo finished"), timeout=0.3)
    assert result.exited == 124 and "timed out" in result.stderr
    assert "finished" not in result.stdout  # stopped, not waited for


def test_output_held_by_a_child_is_read_to_its_end_when_the_command_ended_in_time(local):
    """The thread that waits for the process reads its output (no reader thread): a command
    that ends before its timeout while a child of its still writes is not a timeout."""
    result = local.run(script("(sleep 0.6; echo late) & echo early"), timeout=0.3)
    assert result.exited == 0 and result.stdout.split() == ["early", "late"], result


def test_a_command_that_closed_its_output_still_times_out(local):
    started = time.monotonic()
    result = local.run(script("exec >/dev/null 2>&1; sleep 30"), timeout=0.3)
    assert result.exited == 124 and "timed out" in result.stderr
    assert time.monotonic() - started < 10  # a bound, not a timing


def test_output_lines_come_in_order_across_both_streams(local):
    seen = []
    result = local.run(script("echo a; echo b >&2; sleep 0.05; echo c"),
                       on_output=lambda stream, line: seen.append((stream, line)))
    assert result.ok and seen == [("stdout", "a"), ("stderr", "b"), ("stdout", "c")]


def test_upload_from_path_and_stream(local, tmp_path):
    source = tmp_path / "src.bin"
    source.write_bytes(os.urandom(200_000))
    seen = []
    assert local.upload(str(source), str(tmp_path / "a"), mode=0o600, on_progress=seen.append).ok
    assert (tmp_path / "a").read_bytes() == source.read_bytes() and seen[-1] == 200_000
    assert stat.S_IMODE((tmp_path / "a").stat().st_mode) == 0o600
    assert local.upload(io.BytesIO(b"hi"), str(tmp_path / "b"), mode=0o755).ok
    assert stat.S_IMODE((tmp_path / "b").stat().st_mode) == 0o755
    assert sorted(os.listdir(tmp_path)) == ["a", "b", "src.bin"]  # no temporary files left


def test_upload_into_missing_folder_fails_cleanly(local, tmp_path):
    result = local.upload(io.BytesIO(b"x"), str(tmp_path / "nope" / "f"))
    assert not result.ok and result.stderr


def test_close_stops_running_commands(local):
    results = []
    worker = threading.Thread(target=lambda: results.append(local.run(cmd("sleep", "30"))))
    worker.start()
    for _ in range(1500):  # until the process runs (bounded: 30 s)
        if local._processes._running:
            break
        time.sleep(0.02)
    assert local._processes._running, "the command never started"
    local.close()
    worker.join(10)
    assert results and results[0].exited == -15


def test_forward_is_the_same_port(local):
    with local.forward(8080) as port:
        assert port == 8080


class _Handler(http.server.BaseHTTPRequestHandler):
    """/ answers 200, /broken 503, anything else 404; every path asked is kept."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.paths.append(self.path)
        code = {"/": 200, "/broken": 503}.get(self.path, 404)
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass  # quiet


@pytest.fixture
def web():
    """A tiny HTTP server on 127.0.0.1, on a free port, for as long as the test."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.paths = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(5)


def test_http_gets_status_codes_from_a_local_port(local, web):
    port = web.server_address[1]
    with local.http(port) as get:
        assert get("/") == 200
        assert get("/broken") == 503
        assert get("/nope?x=1") == 404
    assert web.paths == ["/", "/broken", "/nope?x=1"]


def test_http_to_a_closed_port_raises_probe_failed(local):
    with socket.socket() as sock:  # a port that was free a moment ago, and is closed now
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with local.http(port) as get:
        with pytest.raises(ProbeFailed, match="connection refused"):
            get("/health")


def test_a_plans_placeholder_port_is_no_port_to_probe(local):
    with pytest.raises(ExecutionError, match="^local: no port to probe: '<port>'"):
        local.http("<port>")


def test_secret_is_used_but_never_shown(local):
    command = Command(("sh", "-c", 'read -r s; test "$s" = "$TOKEN" && echo match'),
                      env={"TOKEN": SECRET}, stdin=SECRET)
    result = local.run(command)
    assert result.stdout == "match\n"
    for shown in (repr(result), str(result), command.display(), repr(command)):
        assert "s3cr3t" not in shown


def test_interrupt_stops_a_local_shell_and_what_it_started(local, tmp_path):
    """A `sh -c` that took SIGINT between two commands lost it (dash); otter stops the
    command's whole process group instead: the shell and its `sleep` end, the pipes close."""
    started = threading.Event()
    done: list[Result] = []
    worker = threading.Thread(target=lambda: done.append(local.run(
        cmd("sh", "-c", "echo up && sleep 60 && echo never"),
        on_output=lambda _stream, line: started.set())))
    worker.start()
    assert started.wait(20)
    local.interrupt()
    worker.join(30)  # a bound, not a timing: `sleep 60` outlives it if the group lives on
    assert not worker.is_alive()
    assert done[0].exited < 0 and "never" not in done[0].stdout

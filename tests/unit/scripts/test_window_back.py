"""scripts/window/kit.sh and window/back.sh, run here with sh on a state folder and a real
HTTP server of this machine's loopback as the kept release: the kit runs (switch, retire,
state, log, unlock, the way back made current) only for the very state it was made for,
these settings, an open window and a kept release answering its health check; anything
else exits 10 and changes nothing (the rollback then takes its two-trip way)."""
from __future__ import annotations

import base64
import gzip
import http.server
import json
import os
import shlex
import subprocess
import threading
import time

import pytest

from otterfile.scripts import load
from tests.unit.scripts.tools import path_without

pytestmark = pytest.mark.unit

KEPT, LIVE = "20240101T000000-cdcdcdcd", "20240102T000000-efefefef"
BEFORE, AFTER = '{"live": "LIVE"}\n', '{"live": "KEPT"}\n'
RECORD = '{"result": "%s", "when": @otter-when@, "who": @otter-who@}'


@pytest.fixture
def app():
    """A kept release on 127.0.0.1: GET /health answers `app.status`."""
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (the base class's name)
            self.send_response(server.status)
            self.end_headers()

        def log_message(self, *args):
            pass
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.status = 200
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def kit(tmp_path, port: int, *, switch: str = "echo switched; cat", retire: str = "echo kept",
        until: int | None = None, expect: str = "200"):
    """A state folder with releases.json BEFORE, KEPT kept until `until`, and the kit."""
    d = tmp_path / "production"
    (d / "kept").mkdir(parents=True)
    (d / "releases.json").write_text(BEFORE)
    (d / "kept" / "release").write_text(f"{KEPT} {until or int(time.time()) + 300}\n")

    def way(release: str, keeps: str, port: int, after: str) -> str:
        values = {"made": "SIG", "code": "CODE", "release": release, "keeps": keeps, "default": "1",
                  "port": str(port), "path": "/health", "expect": expect, "timeout": "2",
                  "switch": switch, "retire": retire, "after": after,
                  **{f"log_{r.split()[-1]}": RECORD % r
                     for r in ("ok", "failed at switch", "failed at retire")}}
        text = "".join(f"{k}={shlex.quote(v)}\n" for k, v in values.items())
        return base64.b64encode(gzip.compress(text.encode())).decode()
    args = [way(KEPT, f"{LIVE} 20001", port, AFTER), BEFORE, "the site\n",
            way(LIVE, f"{KEPT} {port}", port, BEFORE), AFTER, "the site\n"]
    done = subprocess.run(["sh", "-c", load("window/kit.sh"), "sh", str(d / "back"), *args],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and not done.stderr, done.stderr
    return d


def back(d, want: str = "", sig: str = "SIG", code: str = "CODE", path: str | None = None):
    unlock = f"rm -rf {shlex.quote(str(d / 'lock'))}; echo status=released"
    (d / "lock").mkdir(exist_ok=True)
    return subprocess.run(["sh", "-c", load("window/back.sh"), "sh", str(d), want, sig,
                           code, '"me@here"', '"2024-01-03T00:00:00+00:00"', unlock,
                           load("window/switch-back.sh")],
                          capture_output=True, text=True, timeout=30,
                          env={**os.environ, **({"PATH": path} if path else {})})


def test_the_kit_is_written_whole_in_both_ways(tmp_path, app):
    d = kit(tmp_path, app.server_port)
    assert (d / "back" / "cur").read_text() == "a\n"
    for way, release in (("a", KEPT), ("b", LIVE)):
        assert sorted(p.name for p in (d / "back" / way).iterdir()) == ["before", "site", "vars"]
        assert f"release={release}\n" in (d / "back" / way / "vars").read_text()
    assert (d / "back" / "a" / "before").read_text() == BEFORE  # newlines kept


def test_the_kit_runs_logs_unlocks_and_makes_the_way_back_current(tmp_path, app):
    d = kit(tmp_path, app.server_port)
    done = back(d)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == f"--- otter:back {KEPT} {LIVE} 20001"
    assert "switched" in lines and "the site" in lines  # the site on the switch's stdin
    assert "--- otter:part retire 0" in lines and "--- otter:part unlock 0" in lines
    assert (d / "releases.json").read_text() == AFTER and not (d / "lock").exists()
    record = json.loads((d / "deploy.log").read_text())
    assert record == {"result": "ok", "when": "2024-01-03T00:00:00+00:00", "who": "me@here"}
    assert (d / "back" / "cur").read_text() == "b\n"  # the way back: the next kit
    (d / "lock").mkdir()
    (d / "kept" / "release").write_text(f"{LIVE} {int(time.time()) + 300}\n")
    done = back(d)
    assert done.stdout.splitlines()[0] == f"--- otter:back {LIVE} {KEPT} {app.server_port}"
    assert (d / "releases.json").read_text() == BEFORE
    assert (d / "back" / "cur").read_text() == "a\n"


@pytest.mark.parametrize("case", ["unhealthy", "other state", "window over", "other release",
                                  "other settings", "no kit", "nothing listens",
                                  "another otter"])
def test_anything_else_exits_10_and_changes_nothing(tmp_path, app, case):
    d = kit(tmp_path, app.server_port, until=int(time.time()) + (1 if case == "window over"
                                                                  else 300))
    want, sig = (LIVE if case == "other release" else ""), \
        ("OTHER" if case == "other settings" else "SIG")
    code = "NEWER" if case == "another otter" else "CODE"  # a script or template changed
    if case == "unhealthy":  # the kept release answers 503: not switched to
        app.status = 503
    if case == "other state":
        (d / "releases.json").write_text(BEFORE + " ")
    if case == "no kit":
        (d / "back" / "a" / "vars").unlink()
    if case == "nothing listens":
        app.shutdown()
        app.server_close()
    state = (d / "releases.json").read_text()
    done = back(d, want, sig, code)
    assert done.returncode == 10, (done.stdout, done.stderr)
    assert done.stdout == "" and done.stderr.startswith("otter: no switch back left ready")
    if case == "unhealthy":
        assert done.stderr.endswith("GET /health answered 503\n"), done.stderr
    if case == "another otter":
        assert "made by another otter (its scripts or proxy templates differ" in done.stderr
    assert (d / "releases.json").read_text() == state and (d / "lock").exists()
    assert not (d / "deploy.log").exists()


def test_any_answer_below_500_passes_without_an_expected_status(tmp_path, app):
    app.status = 404
    assert back(kit(tmp_path, app.server_port, expect="")).returncode == 0
    app.status = 500
    assert back(kit(tmp_path / "again", app.server_port, expect="")).returncode == 10


def test_a_failed_switch_is_logged_unlocked_and_the_kit_dropped(tmp_path, app):
    d = kit(tmp_path, app.server_port, switch="echo bad config >&2; exit 4")
    done = back(d)
    assert done.returncode == 0, done.stderr
    assert "--- otter:part switch 4" in done.stdout.splitlines()
    assert (d / "releases.json").read_text() == BEFORE and not (d / "lock").exists()
    assert json.loads((d / "deploy.log").read_text())["result"] == "failed at switch"
    assert not (d / "back").exists()


def test_a_failed_retire_is_logged_and_the_kit_dropped(tmp_path, app):
    d = kit(tmp_path, app.server_port, retire="echo no systemd-run >&2; exit 1")
    done = back(d)
    assert "--- otter:part retire 1" in done.stdout.splitlines()
    assert json.loads((d / "deploy.log").read_text())["result"] == "failed at retire"
    assert not (d / "back").exists() and not (d / "lock").exists()


@pytest.mark.parametrize("how", ["bash", "curl", "bash without /dev/tcp", "neither"])
def test_the_health_check_asks_with_bash_else_curl(tmp_path, app, how):
    """bash's /dev/tcp asks first (no curl here: it must answer alone); without bash,
    curl; a bash that cannot open /dev/tcp (here: one that fails) leaves it to curl; with
    neither, the rollback takes its two-trip way and says why."""
    d = kit(tmp_path, app.server_port, expect="")
    left_out, fakes = {"bash": (("curl",), {}), "curl": (("bash",), {}),
                       "bash without /dev/tcp": ((), {"bash": "exit 1\n"}),
                       "neither": (("bash", "curl"), {})}[how]
    path = path_without(tmp_path, *left_out, fakes=fakes)
    app.status = 204  # any answer below 500 passes: the code read, not guessed
    done = back(d, path=path)
    if how == "neither":
        assert done.returncode == 10 and "nor curl" in done.stderr, done.stderr
        assert (d / "releases.json").read_text() == BEFORE
    else:
        assert done.returncode == 0, done.stderr
        assert done.stdout.splitlines()[0] == f"--- otter:back {KEPT} {LIVE} 20001"


def test_a_status_line_without_a_reason_is_read(tmp_path):
    """`HTTP/1.1 200` and a CR, no reason phrase: bash's reading keeps the digits."""
    import socket
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def answer():
        conn, _ = server.accept()
        asked = b""
        while b"\r\n\r\n" not in asked:  # all of it: a close with bytes unread resets
            chunk = conn.recv(1024)
            if not chunk:
                break
            asked += chunk
        conn.sendall(b"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n")
        conn.close()
    threading.Thread(target=answer, daemon=True).start()
    d = kit(tmp_path, server.getsockname()[1])
    done = back(d, path=path_without(tmp_path, "curl"))
    server.close()
    assert done.returncode == 0, done.stderr

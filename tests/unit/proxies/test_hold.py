"""strategy="recreate" behind a proxy: while the release is swapped, a request is held
instead of failed. Rendered sites, then a real Caddy and a real nginx (njs) on loopback: a
backend that drops its first connections (as nothing, or a container's port proxy before the
app, answers during the swap) still answers the held request; one that never comes back is a
502 after hold_seconds."""
from __future__ import annotations

import http.client
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from otterfile.proxies import caddy, nginx
from tests.unit.proxies import test_nginx
from tests.unit.proxies.test_caddy import needs_caddy
from tests.unit.proxies.test_nginx import NJS, _get, _njs_file, _real_conf, _real_nginx, \
    needs_njs

pytestmark = pytest.mark.unit
UP = "/var/lib/otter/.upstream/db"


def test_caddy_holds_only_with_hold_seconds():
    held = caddy.render_site("db", ["db.test"], 1, None, "off", upstream_dir=UP,
                             hold_seconds=12)
    assert "\t\treverse_proxy 127.0.0.1:{otter_port} {\n" in held
    assert "\t\t\tlb_try_duration 12s\n\t\t\tlb_try_interval 100ms\n\t\t}\n" in held
    named = caddy.render_site("db", ["db.test"], 8080, None, "off", hold_seconds=5)
    assert "\treverse_proxy 127.0.0.1:8080 {\n" in named and "lb_try_duration 5s" in named
    plain = caddy.render_site("db", ["db.test"], 1, None, "off", upstream_dir=UP)
    assert "lb_try" not in plain and "\t\treverse_proxy 127.0.0.1:{otter_port} {\n" in plain


def test_nginx_holds_with_njs_only():
    held = nginx.render_site("db", ["db.test"], 1, None, upstream_dir=UP, hold_seconds=12)
    assert "\tset $otter_hold_seconds 12;\n\tset $otter_hold_retry @otter_retry_db;\n" in held
    assert "\t\terror_page 502 = @otter_hold_db;\n" in held
    assert "location @otter_hold_db {\n\t\tjs_content otter_db.hold;\n" in held
    assert "location @otter_retry_db {\n\t\tproxy_pass http://$otter_upstream_db;\n" in held
    # without njs (the site names the port) nginx has nothing that waits: no hold
    named = nginx.render_site("db", ["db.test"], 8080, None, hold_seconds=12)
    assert "otter_hold" not in named and "error_page" not in named
    plain = nginx.render_site("db", ["db.test"], 1, None, upstream_dir=UP)
    assert "otter_hold" not in plain and "error_page" not in plain


class Comeback:
    """A backend on 127.0.0.1 that closes its first `drops` connections unanswered (after
    reading the request, with `read`), then answers "back"; `seen` counts the connections."""

    def __init__(self, drops: int, read: bool = False):
        self.drops, self.read, self.seen = drops, read, 0
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.server.accept()
            except OSError:
                return
            self.seen += 1
            with conn:
                if self.seen <= self.drops:
                    if self.read:
                        conn.recv(65536)
                    continue
                head = conn.recv(65536).split(b" ", 1)[0]
                body = b"" if head == b"HEAD" else b"back"
                conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n"
                             b"Connection: close\r\n\r\n" + body)

    def close(self) -> None:
        self.server.close()


def _caddy(tmp_path: Path, updir: Path, hold: int):
    listen = test_nginx._free_port()
    text = caddy.render_site("db", [], "<port>", listen, "off", upstream_dir=str(updir),
                             hold_seconds=hold)
    config = tmp_path / "Caddyfile"
    config.write_text("{\n\tadmin off\n\tauto_https off\n}\n" +
                      text.replace(f":{listen} {{", f":{listen} {{\n\tbind 127.0.0.1"))
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    server = subprocess.Popen(["caddy", "run", "--config", str(config), "--adapter",
                               "caddyfile"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    assert server.stderr is not None
    for line in server.stderr:  # Caddy says when it serves
        if "serving initial configuration" in line:
            break
    return listen, server.terminate


def _nginx(tmp_path: Path, updir: Path, hold: int):
    listen = test_nginx._free_port()
    text = nginx.render_site("db", [], "<port>", listen, upstream_dir=str(updir),
                             nginx_dir=str(tmp_path), hold_seconds=hold)
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "otter-db.conf").write_text(
        text.replace(f"listen {listen} default_server", f"listen 127.0.0.1:{listen}"))
    (tmp_path / "conf.d" / "otter-db.js").write_text(_njs_file())
    _real_conf(tmp_path, f"include {tmp_path}/conf.d/*.conf;", f"load_module {NJS};\n")
    started = _real_nginx(tmp_path)
    assert started.returncode == 0, started.stderr
    return listen, lambda: _real_nginx(tmp_path, "-s", "stop")


PROXIES = [pytest.param(_caddy, marks=needs_caddy, id="caddy"),
           pytest.param(_nginx, marks=needs_njs, id="nginx")]


@pytest.fixture
def updir():
    # where nginx's unprivileged worker may look (pytest's tmp_path is root's alone)
    shared = Path(tempfile.mkdtemp(prefix="otter-test-"))
    shared.chmod(0o755)
    (shared / "upstream").mkdir()
    yield shared / "upstream"
    shutil.rmtree(shared)


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_request_is_held_until_the_release_answers(tmp_path, updir, proxy):
    backend = Comeback(drops=3)
    (updir / str(backend.port)).touch()
    listen, stop = proxy(tmp_path, updir, 30)
    try:
        assert _get(listen) == (200, "back")
        assert backend.seen >= 4  # the dropped connections were tried again, not failed
    finally:
        stop()
        backend.close()


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_release_that_never_answers_is_a_502_after_the_hold(tmp_path, updir, proxy):
    port = test_nginx._free_port()  # nothing listens there
    (updir / str(port)).touch()
    listen, stop = proxy(tmp_path, updir, 1)
    try:
        status, _ = _get(listen)
        assert status == 502
    finally:
        stop()


@pytest.mark.parametrize("proxy", PROXIES)
def test_a_post_a_release_received_is_not_sent_twice(tmp_path, updir, proxy):
    backend = Comeback(drops=1, read=True)  # the request arrived, no answer came
    (updir / str(backend.port)).touch()
    listen, stop = proxy(tmp_path, updir, 30)
    try:
        connection = http.client.HTTPConnection("127.0.0.1", listen, timeout=10)
        connection.request("POST", "/", body=b"pay=1", headers={"Host": "db.test"})
        assert connection.getresponse().status == 502
        connection.close()
        assert backend.seen == 1
    finally:
        stop()
        backend.close()

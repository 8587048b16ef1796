"""A token for a private https repository reaches git only through GIT_ASKPASS: never in a
URL git stores, a command line, a message, or a file. Tested against a real git (dumb HTTP
protocol) served on 127.0.0.1 behind Basic authentication."""
from __future__ import annotations

import base64
import functools
import http.server
import stat
import subprocess
import threading
from pathlib import Path

import pytest

from otterfile.transfer.images import ControllerStore
from otterfile.artifacts.base import AcquireContext
from otterfile.artifacts.build import acquire
from otterfile.artifacts.urls import redact, split_credentials
from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor
from otterfile.load.model import build
from otterfile.secrets import Secret

pytestmark = pytest.mark.unit

TOKEN = "tok-3e9f1c-very-secret"
DIGEST = "sha256:" + "e" * 64


class Images(ControllerStore):
    def image_id(self, ref):
        return DIGEST


def _git(*args, cwd=None):
    subprocess.run(["git", "-c", "user.email=t@t", "-c", "user.name=t", *args], cwd=cwd,
                   check=True, capture_output=True)


class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        wanted = base64.b64encode(f"x-access-token:{TOKEN}".encode()).decode()
        if self.headers.get("Authorization") != f"Basic {wanted}":
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.end_headers()
            return
        super().do_GET()

    def log_message(self, *args):
        pass


@pytest.fixture
def server(tmp_path):
    """A bare repository served over dumb HTTP on 127.0.0.1, Basic auth required."""
    work, served = tmp_path / "work", tmp_path / "served"
    work.mkdir()
    _git("init", "-q", "-b", "main", str(work))
    (work / "app.txt").write_text("private\n")
    _git("add", "-A", cwd=work)
    _git("commit", "-qm", "one", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(served / "app.git"))
    _git("update-server-info", cwd=served / "app.git")
    handler = functools.partial(Handler, directory=str(served))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}/app.git"
    httpd.shutdown()
    httpd.server_close()


def context(tmp_path, on_output=None):
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    return AcquireContext(LocalExecutor(), Images(), project, project / ".otter" / "cache",
                          on_output or (lambda line: None))


def files_holding(folder: Path, text: str) -> list[Path]:
    return [p for p in folder.rglob("*") if p.is_file() and text.encode() in p.read_bytes()]


def test_a_token_from_a_secret_clones_and_is_stored_nowhere(server, tmp_path):
    ctx = context(tmp_path)
    artifact = acquire(build(repo=server, ref="main", command="cat app.txt", image="app",
                             token=Secret("GIT_TOKEN", TOKEN)), ctx)
    assert artifact.digest == DIGEST and artifact.source == server
    otter_dir = ctx.cache_dir.parent
    assert stat.S_IMODE(otter_dir.stat().st_mode) == 0o700
    assert files_holding(otter_dir, TOKEN) == []  # not in git's config, not in the helper
    again = acquire(build(repo=server, ref="main", command="true", image="app",
                          token=Secret("GIT_TOKEN", TOKEN)), ctx)  # fetch authenticates too
    assert again.commit == artifact.commit


def test_credentials_in_the_url_are_taken_out_of_it(server, tmp_path):
    with_token = server.replace("http://", f"http://x-access-token:{TOKEN}@")
    ctx = context(tmp_path)
    artifact = acquire(build(repo=with_token, ref="main", command="true", image="app"), ctx)
    assert artifact.source == server and TOKEN not in repr(artifact)
    assert files_holding(ctx.cache_dir.parent, TOKEN) == []


def test_a_wrong_token_fails_without_printing_it(server, tmp_path):
    with pytest.raises(OtterError) as error:
        acquire(build(repo=server.replace("http://", "http://bob:wrong-token@"), ref="main",
                      command="true", image="app"), context(tmp_path))
    assert "cannot clone" in str(error.value) and "wrong-token" not in str(error.value)


def test_an_older_cache_that_kept_credentials_in_its_config_is_cleaned(server, tmp_path):
    ctx = context(tmp_path)
    acquire(build(repo=server, ref="main", command="true", image="app",
                  token=Secret("GIT_TOKEN", TOKEN)), ctx)
    config = next(ctx.cache_dir.glob("repos/*.git/config"))
    config.write_text(config.read_text().replace(server, server.replace(
        "http://", f"http://x-access-token:{TOKEN}@")))
    acquire(build(repo=server, ref="main", command="true", image="app",
                  token=Secret("GIT_TOKEN", TOKEN)), ctx)
    assert TOKEN not in config.read_text()


def test_split_and_redact():
    clean, user, password = split_credentials("https://bob:p%40ss@git.example/a.git")
    assert (clean, user, password.reveal()) == ("https://git.example/a.git", "bob", "p@ss")
    assert split_credentials("git@github.com:u/a.git") == ("git@github.com:u/a.git", "", None)
    assert redact("see https://bob:tok@h/a and https://h/b") == \
        "see https://bob:***@h/a and https://h/b"

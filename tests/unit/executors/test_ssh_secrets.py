"""Every secret travels on stdin or in a private file, never on a command line: each path
that carries one (a git token, a registry password, a URL's password, env and key files)
runs for real through a fake `ssh` on PATH that records its argv and runs the remote line
here under strace, which records the argv of every process the "remote" side starts; a
secret anywhere in them fails the test. Controller-side paths run under strace too."""
from __future__ import annotations

import base64
import dataclasses
import functools
import hashlib
import http.server
import json
import os
import shutil
import stat
import sys
import threading
from pathlib import Path

import pytest

from otterfile.transfer.images import ControllerStore
from otterfile.artifacts.base import AcquireContext
from otterfile.artifacts.build import acquire
from otterfile.artifacts.fetch import download_command
from otterfile.commands import container, download, files, registries
from otterfile.command import script
from otterfile.executors.local import LocalExecutor
from otterfile.executors.ssh import SSHExecutor
from otterfile.hosts import SSHHost
from otterfile.load.model import build
from otterfile.proxies import nginx
from otterfile.secrets import Secret
from tests.fakes import executable
from tests.unit.artifacts.test_git_auth import TOKEN, Handler as GitHandler, _git

pytestmark = pytest.mark.unit

PASSWORD = "pw-7d41c0-never-on-argv"  # a registry's, a URL's
VALUE = "env-5be2a9-never-on-argv"  # an env file's
KEY = "-----BEGIN PRIVATE KEY-----\nkey-93ac1f-never-on-argv\n-----END PRIVATE KEY-----"
BODY = b"the artifact\n" * 100
HEX = hashlib.sha256(BODY).hexdigest()
STRACE = ["strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none", "-s", "1000000"]

# The fake ssh: records its argv, then runs the remote line as sshd would (the login shell's
# -c), under strace, with $FAKE_REMOTE_PATH as the remote PATH when set.
FAKE_SSH = f"""#!{sys.executable}
import json, os, shutil, sys
args = sys.argv[1:]
with open(os.environ["FAKE_SSH_LOG"], "a") as log:
    log.write(json.dumps(args) + "\\n")
if "-O" in args:
    sys.exit(255)  # no master: each command connects afresh
trace = os.path.join(os.environ["FAKE_TRACES"], "%d.trace" % os.getpid())
strace = shutil.which("strace")
os.environ["PATH"] = os.environ.get("FAKE_REMOTE_PATH") or os.environ["PATH"]
shell = shutil.which(os.environ.get("FAKE_SHELL", "sh"))
os.execv(strace, [strace, *{STRACE[1:]!r}, "-o", trace, shell, "-c", args[-1]])
"""

# A docker that checks the password it reads on stdin and answers pull and push.
FAKE_DOCKER = """#!/bin/sh
case "$1" in
  login) read -r pw; [ "$pw" = "$FAKE_PASSWORD" ] && echo "login ok" >> "$FAKE_DOCKER_LOG" ;;
  pull) echo "Digest: sha256:$FAKE_HEX" ;;
  push) echo "latest: digest: sha256:$FAKE_HEX size: 1" ;;
  run) echo "$2 $*" >> "$FAKE_DOCKER_LOG"; echo 0123456789ab ;;
  image|context|images|inspect|rm) exit 1 ;;
esac
exit 0
"""

# An nginx that accepts any config and includes every site of $FAKE_NGINX_DIR; a systemctl
# that does what it is asked.
FAKE_NGINX = """#!/bin/sh
[ "$1" = -T ] && for f in "$FAKE_NGINX_DIR"/conf.d/*.conf; do echo "# configuration file $f:"; done
exit 0
"""


class Harness:
    """A fake ssh on PATH; what every command line recorded holds (`seen`)."""

    def __init__(self, folder: Path, monkeypatch: pytest.MonkeyPatch):
        if shutil.which("strace") is None:
            pytest.fail("strace is needed (scripts/setup.sh installs it)")
        self.folder, self.traces = folder, folder / "traces"
        self.traces.mkdir()
        bin_dir = folder / "bin"
        bin_dir.mkdir()
        executable(bin_dir / "ssh", FAKE_SSH)
        executable(bin_dir / "docker", FAKE_DOCKER)
        executable(bin_dir / "nginx", FAKE_NGINX)
        executable(bin_dir / "systemctl", "#!/bin/sh\nexit 0\n")
        monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
        monkeypatch.setenv("FAKE_SSH_LOG", str(folder / "ssh.log"))
        monkeypatch.setenv("FAKE_TRACES", str(self.traces))
        monkeypatch.setenv("FAKE_DOCKER_LOG", str(folder / "docker.log"))
        monkeypatch.setenv("FAKE_PASSWORD", PASSWORD)
        monkeypatch.setenv("FAKE_HEX", HEX)

    def ssh(self, name: str = "builder") -> SSHExecutor:
        return SSHExecutor(SSHHost(hostname=name, user="root"),
                           control_dir=str(self.folder / f"c-{name}"))

    def local(self) -> LocalExecutor:
        return Strace(self.traces)

    def lines(self) -> list[str]:
        """Every ssh argv and every traced execve, one line each."""
        log = self.folder / "ssh.log"
        ssh = [" ".join(json.loads(line)) for line in log.read_text().splitlines()] \
            if log.exists() else []
        traced = [line for trace in sorted(self.traces.iterdir())
                  for line in trace.read_text().splitlines()]
        assert ssh or traced, "nothing was recorded: the harness is broken"
        return ssh + traced

    def holding(self, *secrets: str) -> list[str]:
        """The recorded command lines that show any of `secrets` (or a line of one)."""
        pieces = [piece for secret in secrets for piece in secret.splitlines() if piece]
        return [line for line in self.lines() if any(piece in line for piece in pieces)]

    def docker_log(self) -> str:
        log = self.folder / "docker.log"
        return log.read_text() if log.exists() else ""


class Strace(LocalExecutor):
    """A local executor whose processes (and theirs) run under strace."""

    def __init__(self, traces: Path):
        super().__init__()
        self.traces = traces

    def run(self, command, **kwargs):
        trace = str(self.traces / f"local-{len(os.listdir(self.traces))}.trace")
        traced = dataclasses.replace(command, argv=(*STRACE, "-o", trace, *command.argv))
        return super().run(traced, **kwargs)


@pytest.fixture
def harness(tmp_path, monkeypatch) -> Harness:
    return Harness(tmp_path, monkeypatch)


def test_the_harness_sees_a_secret_that_reaches_a_command_line(harness):
    leaky = script('read -r x; /bin/echo "$x" >/dev/null', stdin=Secret("S", PASSWORD + "\n"))
    assert harness.ssh().run(leaky).ok
    assert harness.holding(PASSWORD) and "/bin/echo" in harness.holding(PASSWORD)[0]


@pytest.fixture
def git_server(tmp_path):
    """A bare repository over dumb HTTP on 127.0.0.1, Basic auth with TOKEN required."""
    work, served = tmp_path / "work", tmp_path / "served"
    _git("init", "-q", "-b", "main", str(work))
    (work / "app.txt").write_text("private\n")
    _git("add", "-A", cwd=work)
    _git("commit", "-qm", "one", cwd=work)
    _git("clone", "-q", "--bare", str(work), str(served / "app.git"))
    _git("update-server-info", cwd=served / "app.git")
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(GitHandler, directory=str(served)))
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_port}/app.git"
    httpd.shutdown()
    httpd.server_close()


class Images(ControllerStore):
    def image_id(self, ref):
        return "sha256:" + "e" * 64


@pytest.mark.parametrize("where, shell", [("build host", "sh"), ("build host", "bash"),
                                          ("controller", "sh")])
def test_a_git_token_reaches_git_and_no_command_line(harness, git_server, tmp_path,
                                                     monkeypatch, where, shell):
    monkeypatch.setenv("FAKE_SHELL", shell)
    home = tmp_path / "home"  # a host whose git would store credentials in a file
    home.mkdir()
    (home / ".gitconfig").write_text("[credential]\n\thelper = store\n")
    monkeypatch.setenv("HOME", str(home))
    executor = harness.ssh() if where == "build host" else harness.local()
    cache = tmp_path / "cache"
    ctx = AcquireContext(executor, Images(), tmp_path, cache, lambda line: None)
    source = build(repo=git_server, ref="main", command="cat app.txt", image="app",
                   token=Secret("GIT_TOKEN", TOKEN))
    first = acquire(source, ctx)  # a clone
    again = acquire(source, ctx)  # a fetch: authenticates again
    assert first.commit and again.commit == first.commit
    assert harness.holding(TOKEN) == []
    assert any("git clone" in line or '"clone"' in line for line in harness.lines())
    stored = [p for p in [*cache.parent.rglob("*"), *home.rglob("*")]
              if p.is_file() and TOKEN.encode() in p.read_bytes()]
    assert stored == []  # not in git's config, the helper, nor ~/.git-credentials


def test_a_registry_password_reaches_the_login_and_no_command_line(harness):
    pulled = harness.ssh("web1").run(registries.pull(
        "docker", "registry.test/app:1", server="registry.test", username="deploy",
        password=Secret("REGISTRY_PASSWORD", PASSWORD)))
    assert pulled.ok, pulled.stderr
    pushed = harness.local().run(registries.push(
        "docker", "sha256:" + HEX, "registry.test/app:1", server="registry.test",
        username="deploy", password=Secret("REGISTRY_PASSWORD", PASSWORD)))
    assert pushed.ok, pushed.stderr
    assert harness.docker_log().count("login ok") == 2  # both read it on stdin
    assert harness.holding(PASSWORD) == []


class Private(http.server.BaseHTTPRequestHandler):
    """BODY at any path, for user u with PASSWORD only."""

    def do_GET(self):  # noqa: N802 - http.server's name
        wanted = "Basic " + base64.b64encode(f"u:{PASSWORD}".encode()).decode()
        if self.headers.get("Authorization") != wanted:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, *_):
        pass


@pytest.fixture
def private_url():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Private)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://u:{PASSWORD}@127.0.0.1:{httpd.server_port}/app.bin"
    httpd.shutdown()
    httpd.server_close()


def only(folder: Path, *tools: str) -> str:
    """A PATH of the tools the download script needs and `tools` (name or name=target)."""
    folder.mkdir()
    for tool in ("sh", "mkdir", "sha256sum", "cut", "chmod", "mv", "rm", *tools):
        name, _, target = tool.partition("=")
        os.symlink(target or shutil.which(name), folder / name)
    return str(folder)


@pytest.mark.parametrize("tool", ["curl", "wget", "wget=/bin/busybox"])
def test_a_url_password_reaches_the_download_and_no_command_line(harness, private_url,
                                                                 tmp_path, monkeypatch, tool):
    monkeypatch.setenv("FAKE_REMOTE_PATH", only(tmp_path / "tools", tool))
    store = tmp_path / "store"
    result = harness.ssh("web1").run(download.fetch_into_store(
        private_url, f"sha256:{HEX}", "the URL", store_dir=str(store)))
    assert harness.holding(PASSWORD) == []
    if tool.endswith("busybox"):  # takes a URL only as an argument: refused, said why
        assert result.exited == download.EXIT_ARGV_ONLY
        message = download.failure(result, "web1", "the URL")
        assert message.startswith("web1 has only BusyBox wget, which takes a URL only on its "
                                  "command line") and "install curl or GNU wget" in message
        assert not store.exists()
    else:
        assert result.ok, result.stderr
        assert (store / HEX).read_bytes() == BODY


def test_busybox_wget_still_downloads_a_url_without_a_password(harness, private_url,
                                                               tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_REMOTE_PATH", only(tmp_path / "tools", "wget=/bin/busybox"))
    plain = private_url.replace(f"u:{PASSWORD}@", "")
    result = harness.ssh("web1").run(download.fetch_into_store(
        plain, f"sha256:{HEX}", store_dir=str(tmp_path / "store")))
    assert result.exited == download.EXIT_FAILED  # it ran: the server wants a password
    assert any("wget" in line and plain in line for line in harness.lines())


def test_the_controllers_download_takes_the_url_on_stdin(harness, private_url, tmp_path):
    result = harness.local().run(download_command(private_url, tmp_path / "cache", HEX))
    assert result.ok, result.stderr
    assert (tmp_path / "cache" / HEX).read_bytes() == BODY
    assert harness.holding(PASSWORD) == []


def test_env_files_and_tls_keys_are_written_from_stdin_and_private(harness, tmp_path,
                                                                   monkeypatch):
    env = files.render_env_file({"MODE": "production", "DB_PASSWORD": Secret("DB", VALUE)})
    env_file = tmp_path / "env" / "release.env"
    started = harness.ssh("web1").run(container.start_release(
        "docker", deployment="production", release="r1", digest="sha256:" + HEX,
        image="app", container_port=80, env=env, env_file=str(env_file)))
    assert started.ok, started.stderr
    assert env_file.read_text() == f"MODE=production\nDB_PASSWORD={VALUE}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    written = harness.ssh("web1").run(files.write_file(str(tmp_path / "app.env"), env))
    assert written.ok and stat.S_IMODE((tmp_path / "app.env").stat().st_mode) == 0o600
    nginx_dir = tmp_path / "nginx"
    monkeypatch.setenv("FAKE_NGINX_DIR", str(nginx_dir))
    switched = harness.ssh("web1").run(nginx.switch(
        "production", "server {}\n", str(nginx_dir), cert="CERT", key=KEY,
        upstream_dir=str(tmp_path / "upstream"), port=20001))
    assert switched.ok, switched.stderr
    key = nginx_dir / "otter-tls" / "production" / "key.pem"
    assert key.read_text() == KEY + "\n" and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert harness.holding(VALUE, KEY) == []

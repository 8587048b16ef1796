"""A build host for real, for what it must keep to itself: a git token reaches the clone on
target3 while no process on target3 or the controller ever shows it on its command line
(/proc/*/cmdline sampled throughout the run), and build(via="url")'s file server answers
only its one path, on the targets' address, and is gone when the run ends however it ends
(done, failed, Ctrl-C)."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from io import BytesIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from otterfile.executors import executor_for
from tests.integration.deploy import events, otter_env, served, write_app
from tests.integration.test_build_host import OTTERFILE, REPO, build_host, put_repo, run_on
from tests.integration.test_build_host import spelled

pytestmark = pytest.mark.integration
__all__ = ["build_host"]  # the fixture, shared

RUN_WAIT = 600  # seconds an otter run may take at most here
GIT_PORT = 18419  # the test's git server, on target3's loopback
TOKEN_FILE, SAMPLES = "/root/otter-it-token", "/root/otter-it-samples.json"

# Dumb-HTTP git behind Basic auth (x-access-token:TOKEN, the token read from a file, so it
# is on no command line), each answer slowed so that the clone lasts long enough to sample.
GIT_SERVER = """
import base64, functools, http.server, sys, time
port, root, token_file = int(sys.argv[1]), sys.argv[2], sys.argv[3]
token = open(token_file).read().strip()
wanted = "Basic " + base64.b64encode(("x-access-token:" + token).encode()).decode()
class Handler(http.server.SimpleHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.2)
        if self.headers.get("Authorization") != wanted:
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="git"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        super().do_GET()
    def log_message(self, *args):
        pass
handler = functools.partial(Handler, directory=root)
http.server.ThreadingHTTPServer(("127.0.0.1", port), handler).serve_forever()
"""

# Reads every process's command line until $3 exists (at most 15 minutes); writes what it
# saw to $2: command lines holding the token (from the file $1), how many sweeps, and in how
# many a git clone or fetch was running (the sampling saw the moment that matters).
SAMPLER = """
import json, os, sys, time
token = open(sys.argv[1]).read().strip().encode()
out, stop = sys.argv[2], sys.argv[3]
hits, sweeps, git = [], 0, 0
open(out + ".ready", "w").close()
deadline = time.monotonic() + 900
while not os.path.exists(stop) and time.monotonic() < deadline:
    saw = False
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            line = open("/proc/%s/cmdline" % pid, "rb").read()
        except OSError:
            continue
        if token in line:
            hits.append(line.replace(token, b"<TOKEN>").replace(b"\\0", b" ").decode())
        saw = saw or (b"git" in line and (b"clone" in line or b"fetch" in line))
    sweeps, git = sweeps + 1, git + saw
    time.sleep(0.005)
json.dump({"hits": hits[:20], "sweeps": sweeps, "git": git}, open(out + ".tmp", "w"))
os.rename(out + ".tmp", out)
"""


def put(target, text: str, path: str, mode: int = 0o600) -> None:
    executor = executor_for(target.host)
    try:
        assert executor.upload(BytesIO(text.encode()), path, mode=mode).ok
    finally:
        executor.close()


def wait_for(target, path: str, seconds: float = 60) -> None:
    """Until `path` exists on the target (an event; bounded)."""
    done = run_on(target, f"i=0; while [ ! -e {path} ] && [ $i -lt {int(seconds * 10)} ]; "
                          f"do sleep 0.1; i=$((i+1)); done; [ -e {path} ]")
    assert done.ok, f"{path} never appeared on {target.name}"


class LocalSampler(threading.Thread):
    """The controller's /proc/*/cmdline, swept until stopped: command lines holding `token`."""

    def __init__(self, token: str):
        super().__init__(daemon=True)
        self.token, self.hits, self.sweeps = token.encode(), [], 0
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(0.005):
            for pid in filter(str.isdigit, os.listdir("/proc")):
                try:
                    line = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if self.token in line:
                    self.hits.append(line.replace(self.token, b"<TOKEN>").decode())
            self.sweeps += 1


@pytest.fixture
def token_repo(tmp_path, build_host):
    """The app's repository served by target3 over HTTP behind a token; the token."""
    token = f"otter-it-{uuid.uuid4().hex}"
    app = write_app(tmp_path / "app", "built with a token")
    put_repo(build_host, app, "v1")
    put(build_host, token + "\n", TOKEN_FILE)
    put(build_host, GIT_SERVER, "/root/otter-it-git.py")
    put(build_host, SAMPLER, "/root/otter-it-sampler.py")
    started = run_on(build_host, f"git --git-dir {REPO} update-server-info && systemd-run -q "
                                 f"--unit otter-it-git --collect python3 /root/otter-it-git.py "
                                 f"{GIT_PORT} /srv {TOKEN_FILE}")
    assert started.ok, started.stderr
    yield f"http://127.0.0.1:{GIT_PORT}/{Path(REPO).name}", token
    run_on(build_host, f"systemctl stop otter-it-git otter-it-sampler 2>/dev/null; rm -f "
                       f"{TOKEN_FILE} /root/otter-it-*.py {SAMPLES}* /root/.git-credentials")


def test_a_token_build_on_target3_shows_the_token_on_no_command_line(tmp_path, clean_targets,
                                                                    build_host, token_repo):
    url, token = token_repo
    tag = f"otter-it-token:{uuid.uuid4().hex[:8]}"
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        repo=url, command=f"docker build -q -t {tag} .",
        extra=', token=secret("GIT_TOKEN")', runtime="docker(port=8080)",
        builder=spelled(build_host), servers=[spelled(t) for t in clean_targets[:2]],
        deploy_to="[servers]"))
    assert run_on(build_host, f"rm -f {SAMPLES}* && systemd-run -q --unit otter-it-sampler "
                              f"--collect python3 /root/otter-it-sampler.py {TOKEN_FILE} "
                              f"{SAMPLES} {SAMPLES}.stop").ok
    wait_for(build_host, f"{SAMPLES}.ready")
    here = LocalSampler(token)
    here.start()
    try:
        done = subprocess.run([sys.executable, "-m", "otterfile", "--json", "run",
                               "production"], capture_output=True, text=True, cwd=tmp_path,
                              env=otter_env(GIT_TOKEN=token), timeout=RUN_WAIT)
    finally:
        here.stopped.set()
        here.join()
        run_on(build_host, f"touch {SAMPLES}.stop")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    for target in clean_targets[:2]:
        assert served(target) == "200 built with a token"
    wait_for(build_host, SAMPLES)
    seen = json.loads(run_on(build_host, f"cat {SAMPLES}").stdout)
    assert seen["hits"] == [] and here.hits == []  # on no command line, there or here
    assert seen["git"] > 0 and here.sweeps > 0  # sampled while git cloned
    kept = run_on(build_host, f"grep -rlF -f {TOKEN_FILE} /var/cache/otter /root/.gitconfig "
                              "/root/.git-credentials 2>/dev/null; true")
    assert kept.stdout.strip() == ""  # nor in a file otter left
    assert token not in done.stdout + done.stderr
    run_on(build_host, f"docker rmi {tag} >/dev/null 2>&1; true")


STEP = '''

@step(deployment="production", before="start", on="controller")
def peek(ctx):
    import time
    from pathlib import Path
    url = ctx._engine.artifacts["web"].url  # the test peeks at what the targets were told
    ctx.log("otter-test-url " + url)
    deadline = time.monotonic() + 300
    while not Path({go!r}).exists() and not ctx._engine.cancel.is_set():
        assert time.monotonic() < deadline, "the test never said go"
        time.sleep(0.05)
    if {fail!r}:
        raise RuntimeError("otter-test: failing on purpose")
'''


def curl(target, url: str) -> str:
    """The HTTP status the target gets for `url` ("000": no connection)."""
    return run_on(target, f"curl -s -o /dev/null -m 10 -w '%{{http_code}}' '{url}'; true") \
        .stdout.strip()


def listeners(target, port: int) -> list[str]:
    """The local addresses otter's file server listens on at TCP `port` on the target. Another
    process may hold the same port on another address (the kernel hands out a port bound to one
    address again for another); CI saw 127.0.0.1 taken so, so listeners are told by process."""
    said = run_on(target, (
        f"ss -ltnpH 'sport = :{port}' | while read -r _ _ _ local _ users; do "
        "pid=${users#*pid=}; pid=${pid%%,*}; "
        "grep -qs otter-serving /proc/$pid/cmdline && echo \"$local\"; done")).stdout
    return [line.rsplit(":", 1)[0].strip("[]") for line in said.split()]


def served_url(process: subprocess.Popen) -> str:
    """The URL the step logged, reading the run's events until it does (bounded)."""
    deadline = time.monotonic() + RUN_WAIT
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        assert line, "the run ended before the file was served: " + process.stderr.read()
        for event in events(line):
            if event.get("message", "").startswith("otter-test-url "):
                return event["message"].split()[1]
    raise AssertionError("no URL within the run's time")


@pytest.mark.parametrize("end", ["done", "failed", "ctrl-c"])
def test_the_file_server_serves_one_path_on_one_address_until_the_run_ends(
        tmp_path, clean_targets, build_host, end):
    app = tmp_path / "app"
    app.mkdir()
    (app / "index.html").write_text("served by target3\n")
    (app / "health").write_text("ok\n")
    put_repo(build_host, app, "v1")
    go = tmp_path / "go"
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(
        repo=REPO, command="mkdir -p dist && tar -czf dist/site.tar.gz index.html health",
        extra=', output="dist/site.tar.gz", via="url"',
        runtime='systemd(command="python3 -m http.server {port} --bind 127.0.0.1", port=8080)',
        builder=spelled(build_host), servers=[spelled(t) for t in clean_targets[:2]],
        deploy_to="[servers]") + STEP.format(go=str(go), fail=end == "failed"))
    process = subprocess.Popen([sys.executable, "-m", "otterfile", "--json", "run",
                                "production"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, cwd=tmp_path, env=otter_env())
    try:
        url = served_url(process)
        parts = urlsplit(url)
        base, port = f"{parts.scheme}://{parts.netloc}", parts.port
        user = clean_targets[0]
        assert curl(user, url) == "200"
        assert [curl(user, base + p) for p in ("/", "/wrong", parts.path + "x")] == ["404"] * 3
        assert listeners(build_host, port) == [parts.hostname]  # that address only
        if end == "ctrl-c":
            process.send_signal(signal.SIGINT)
        else:
            go.touch()
        out, err = process.communicate(timeout=RUN_WAIT)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == (0 if end == "done" else 1), out[-3000:] + err[-2000:]
    if end == "ctrl-c":
        assert "interrupted" in err
    assert listeners(build_host, port) == []  # the port is closed on target3
    assert curl(user, url) == "000"
    if end == "done":
        assert served(clean_targets[0]) == "200 served by target3"

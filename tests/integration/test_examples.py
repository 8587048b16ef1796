"""Every example in examples/ deployed to the test hosts, as its README says to run it.

Each example is copied to a temporary folder (builds write beside it) and pointed at the
session's key with OTTER_TESTBED_KEYS; the examples name slot 0's hosts (127.0.0.1:2201...),
so the copy's ports are this session's slot's (tests/testbed/hosts.py)."""
from __future__ import annotations

import contextlib
import hashlib
import shutil
import subprocess
import sys
import tarfile
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from tests.integration.deploy import ROOT, on, otter_env
from tests.testbed.hosts import SLOT

EXAMPLES = ROOT / "examples"


def run(folder: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "otterfile", *args], capture_output=True,
                          text=True, timeout=300, cwd=folder, env=otter_env(**env))


def example(tmp_path: Path, name: str, targets) -> tuple[Path, dict]:
    folder = shutil.copytree(EXAMPLES / name, tmp_path / name)
    for otterfile in folder.glob("*.py"):
        text = otterfile.read_text()
        for n in "123":  # as written for slot 0, moved to this session's slot
            text = text.replace(f"220{n}", f"22{SLOT}{n}").replace(f"820{n}", f"82{SLOT}{n}")
        otterfile.write_text(text)
    keys = str(Path(targets[0].host.identity_file).parent)
    return folder, {"OTTER_TESTBED_KEYS": keys, "HELLO_API_TOKEN": "example-token"}


def get(target, domain: str, path: str = "/") -> str:
    response = httpx.get(target.url(path), headers={"Host": domain}, timeout=5)
    return f"{response.status_code} {response.text.strip()}"


def deployed(tmp_path, two, name: str, deployment: str, **extra: str) -> Path:
    folder, env = example(tmp_path, name, two)
    done = run(folder, "run", deployment, **env, **extra)
    assert done.returncode == 0, done.stdout + done.stderr
    return folder


def test_hello(tmp_path, two):
    deployed(tmp_path, two, "hello", "production")
    assert [get(t, "hello.test").split()[0] for t in two] == ["200", "200"]


def test_static_site(tmp_path, two):
    deployed(tmp_path, two, "static-site", "site")
    assert all("a static site, deployed by otter" in get(t, "static.test") for t in two)


def test_python_app_under_systemd_with_a_migration_once(tmp_path, two):
    for t in two:
        on(t, "rm", "-rf", "/var/lib/api")
    deployed(tmp_path, two, "python-app", "api")
    assert [get(t, "api.test") for t in two] == ["200 hello from systemd"] * 2
    ran = [on(t, "sh", "-c", "cat /var/lib/api/migrations 2>/dev/null | wc -l").stdout.strip()
           for t in two]
    assert sorted(ran) == ["0", "1"]
    units = on(two[0], "systemctl", "list-units", "--no-legend", "otter-api@*").stdout
    assert "running" in units


@contextlib.contextmanager
def serving(folder: Path):
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(
        type("Quiet", (SimpleHTTPRequestHandler,), {"log_message": lambda *a: None}),
        directory=str(folder)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_fetched_tarball(tmp_path, two):
    files = tmp_path / "files"
    files.mkdir()
    tarball = files / "release.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        tar.add(EXAMPLES / "python-app" / "app" / "server.py", arcname="server.py")
    digest = hashlib.sha256(tarball.read_bytes()).hexdigest()
    with serving(files) as url:
        deployed(tmp_path, two, "fetched-tarball", "release",
                 RELEASE_URL=f"{url}/release.tar.gz", RELEASE_SHA256=digest)
    assert [get(t, "release.test") for t in two] == ["200 hello from a fetched tarball"] * 2


def test_web_worker_redis_and_a_migration(tmp_path, two):
    import time
    for t in two:
        on(t, "rm", "-rf", "/var/lib/otter/cache/data")
    folder = deployed(tmp_path, two, "worker-redis", "stack")
    page, deadline = "", time.monotonic() + 30
    while time.monotonic() < deadline and not page.startswith("200 schema=1 jobs="):
        page = get(two[0], "shop.test")
        time.sleep(1)
    assert page.startswith("200 schema=1 jobs="), page
    jobs = int(page.rsplit("=", 1)[1])
    assert jobs >= 1
    # a new Redis release keeps the data (appendonly file in the data folder)
    (folder / "redis" / "run.sh").write_text((folder / "redis" / "run.sh").read_text()
                                             + "# v2\n")
    again = run(folder, "run", "stack", "--targets",
                two[0].host.name, OTTER_TESTBED_KEYS=str(Path(two[0].host.identity_file)
                                                         .parent))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "stopped otter-cache@" in again.stdout
    later = get(two[0], "shop.test")
    assert later.startswith("200 schema=1 jobs=") and int(later.rsplit("=", 1)[1]) >= jobs

"""fetch(...) on real test hosts. Controller mode: a `docker save` archive served on
127.0.0.1 by the test, fetched and deployed with docker behind Caddy to two hosts, then
redeployed from the cache; a wrong digest and a 404 change nothing. Target mode: target1
serves a file, the others download it by service name into their stores (at the ship
level: the systemd runtime lands separately)."""
from __future__ import annotations

import hashlib
import re
import subprocess
import threading
import time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.fetch import SOURCE
from otterfile.transfer.ship import ship
from otterfile.command import cmd
from otterfile.commands import store
from otterfile.errors import OtterError
from otterfile.executors import executor_for
from otterfile.executors.local import LocalExecutor
from otterfile.load.model import Fetch
from otterfile.runtimes import systemd
from tests.integration.deploy import events, on, otter, served, write_otterfile

pytestmark = pytest.mark.integration

BUILD_LINE = re.compile(r"build\(.*\)\n")
PORT = 8099  # where target1 serves files to the others


@pytest.fixture
def files(tmp_path):
    """A folder served on 127.0.0.1 by a thread; yields (folder, base URL, request paths)."""
    folder, asked = tmp_path / "www", []
    folder.mkdir()

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            asked.append(self.path)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(Handler, directory=str(folder)))
    threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True).start()
    yield folder, f"http://127.0.0.1:{httpd.server_address[1]}", asked
    httpd.shutdown()
    httpd.server_close()


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fetching(project: Path, targets, url: str, sha: str | None) -> None:
    """The deploy tests' Otterfile with its artifact fetched from `url`."""
    write_otterfile(project, targets)
    pin = f", sha256={sha!r}" if sha else ""
    text = (project / "Otterfile.py").read_text()
    (project / "Otterfile.py").write_text(BUILD_LINE.sub(f"fetch({url!r}{pin})\n", text, 1))


def ship_messages(stdout: str) -> list[str]:
    return [str(e.get("message", "")) for e in events(stdout) if e.get("stage") == "ship"]


def test_a_fetched_docker_archive_deploys_to_two_hosts_and_redeploys_from_the_cache(
        tmp_path, two, files, app_image):
    folder, base, asked = files
    image = app_image("fetched-v1")
    archive = folder / "app.tar"
    subprocess.run(["docker", "save", "-o", str(archive), image.tag], check=True)
    fetching(tmp_path, two, f"{base}/app.tar", sha256(archive))

    first = otter(tmp_path, "--json", "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert [served(t) for t in two] == ["200 fetched-v1"] * 2
    assert asked == ["/app.tar"]
    assert sum(m.startswith("sent ") for m in ship_messages(first.stdout)) == 2
    for t in two:  # the image id the archive holds, loaded from the file
        assert on(t, "docker", "image", "inspect", image.id).ok

    text = (tmp_path / "Otterfile.py").read_text()
    (tmp_path / "Otterfile.py").write_text(text.replace('"hello"', '"again"'))
    again = otter(tmp_path, "--json", "run", "production")
    assert again.returncode == 0, again.stdout + again.stderr
    assert asked == ["/app.tar"]  # the cache answered: no request
    assert ship_messages(again.stdout).count("artifact already there") == 2


@pytest.mark.parametrize("fault", ["wrong digest", "404"])
def test_a_bad_download_fails_acquire_and_changes_no_host(tmp_path, two, files, app_image,
                                                          fault):
    folder, base, _ = files
    image = app_image("fetched-good")
    archive = folder / "app.tar"
    subprocess.run(["docker", "save", "-o", str(archive), image.tag], check=True)
    fetching(tmp_path, two, f"{base}/app.tar", sha256(archive))
    assert otter(tmp_path, "run", "production").returncode == 0
    before = [on(t, "docker", "ps", "-aq").stdout for t in two]

    url = base.replace("http://", "http://me:hunter2@") + \
        ("/app.tar" if fault == "wrong digest" else "/gone.tar")
    fetching(tmp_path, two, url, "ab" * 32)
    bad = otter(tmp_path, "run", "production")
    output = bad.stdout + bad.stderr
    assert bad.returncode == 1, output
    assert "me:***@127.0.0.1" in output and "hunter2" not in output
    assert (f"expected {'ab' * 32}, got {sha256(archive)}" if fault == "wrong digest"
            else "HTTP 404 File not found") in output
    assert [on(t, "docker", "ps", "-aq").stdout for t in two] == before
    assert [served(t) for t in two] == ["200 fetched-good"] * 2


class StoreRuntime:
    """What a runtime of files does at ship: the target's content-addressed store."""

    name, forms = "store", ("file",)

    def probe(self, artifact: Artifact):
        return store.probe(artifact.digest)

    def receive(self, artifact: Artifact):
        return store.receive(artifact.digest)


@pytest.fixture
def serving(clean_targets, tmp_path):
    """target1 serves a 5 MB file on PORT to the other hosts; yields (file, URL, others)."""
    server, others = clean_targets[0], clean_targets[1:]
    data = tmp_path / "app.bin"
    data.write_bytes(hashlib.sha256(b"otter").digest() * (5_000_000 // 32))
    executor = executor_for(server.host)
    try:
        assert executor.run(cmd("mkdir", "-p", "/srv/otter-fetch")).ok
        assert executor.upload(str(data), "/srv/otter-fetch/app.bin").ok
        started = executor.run(cmd("systemd-run", "--unit", "otter-fetch-test-http",
                                   "--working-directory", "/srv/otter-fetch", "python3",
                                   "-m", "http.server", str(PORT)))
        assert started.ok, started.stderr
        url = f"http://{server.name}:{PORT}/app.bin"
        deadline = time.monotonic() + 20
        while not on(others[0], "curl", "-fsS", "-o", "/dev/null", url).ok:
            assert time.monotonic() < deadline, f"{url} never answered"
            time.sleep(0.2)
        yield data, url, others
    finally:
        executor.run(cmd("systemctl", "stop", "otter-fetch-test-http"))
        executor.run(cmd("rm", "-rf", "/srv/otter-fetch"))
        executor.close()


RUNTIMES = [StoreRuntime(), systemd.RUNTIME]


@pytest.mark.parametrize("runtime", RUNTIMES, ids=["store", "systemd"])
def test_via_target_each_host_downloads_verifies_and_ships_once(tmp_path, serving, runtime):
    data, url, others = serving
    digest = sha256(data)
    ctx = AcquireContext(LocalExecutor(), None, tmp_path, tmp_path / "cache",  # type: ignore
                         lambda _line: None)
    artifact = SOURCE.acquire(Fetch(url, sha256=digest, via="target"), ctx)
    assert not (tmp_path / "cache").exists()  # the controller downloads nothing
    wrong = SOURCE.acquire(Fetch(url, sha256="cd" * 32, via="target"), ctx)
    missing = SOURCE.acquire(Fetch(url + ".gone", sha256="ef" * 32, via="target"), ctx)
    for t in others:
        remote = executor_for(t.host)
        try:
            first = ship(artifact, runtime, remote, None)  # type: ignore[arg-type]
            assert first.shipped and first.bytes == 0  # nothing sent by the controller
            stored = remote.run(cmd("sha256sum", store.path(artifact.digest)))
            assert stored.stdout.split()[0] == digest
            again = ship(artifact, runtime, remote, None)  # type: ignore[arg-type]
            assert not again.shipped and again.bytes == 0
            with pytest.raises(OtterError, match=rf"{t.host.name} downloaded {url}, but its "
                               rf"digest is wrong: otter: downloaded sha256 {digest}"):
                ship(wrong, runtime, remote, None)  # type: ignore[arg-type]
            with pytest.raises(OtterError, match=rf"{t.host.name} cannot download .*404"):
                ship(missing, runtime, remote, None)  # type: ignore[arg-type]
            listed = remote.run(cmd("ls", "-A", store.STORE)).stdout.split()
            assert listed == [digest]  # nothing of the failures left behind
        finally:
            remote.close()

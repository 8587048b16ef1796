"""fetch(...): the controller's download (httpx, through the executor) and the target's
(commands/download.py, curl or wget), both run for real against an HTTP server that the
test starts on 127.0.0.1: retries, resume, redirects, digests, the cache, docker archives."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import os
import re
import shutil
import tarfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from otterfile.artifacts import download as fetching
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.download import download
from otterfile.artifacts.fetch import SOURCE
from otterfile.commands import download as target_download
from otterfile.commands import store
from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor
from otterfile.executors.planned import PlannedExecutor
from otterfile.executors.recording import RecordingExecutor
from otterfile.hosts import LocalHost
from otterfile.load.model import Fetch
from otterfile.load.validate import FieldError

pytestmark = pytest.mark.unit

BODY = bytes(range(256)) * 4096  # 1 MiB
HEX = hashlib.sha256(BODY).hexdigest()
WRONG = "0" * 64


class Server:
    """What the test server serves and what it was asked."""

    def __init__(self):
        self.requests: list[tuple[str, str | None]] = []  # (path, Range header)
        self.if_range: list[str | None] = []
        self.files = {"/app.bin": BODY}
        self.failures: dict[str, int] = {}  # path -> how many answers fail first
        self.lock = threading.Lock()

    def count(self, path: str | None = None) -> int:
        return sum(1 for p, _ in self.requests if path is None or p == path)

    def fail_first(self, path: str) -> bool:
        with self.lock:
            left = self.failures.get(path, 0)
            self.failures[path] = left - 1
            return left > 0


class Handler(BaseHTTPRequestHandler):
    """/app.bin (Range), /plain/* (no Range), /missing, /flaky (500s first), /drop/*
    (closes halfway first), /loop, /moved, /slow, /private (basic auth)."""

    server_version = "test"
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:
        pass

    @property
    def state(self) -> Server:
        return self.server.state  # type: ignore[attr-defined]

    def do_GET(self) -> None:
        path, wanted = self.path, self.headers.get("Range")
        self.state.requests.append((path, wanted))
        self.state.if_range.append(self.headers.get("If-Range"))
        if path == "/loop":
            return self._redirect("/loop")
        if path == "/moved":
            return self._redirect("/app.bin")
        if path == "/flaky" and self.state.fail_first(path):
            return self._send(500, b"busy")
        if path == "/private" and self.headers.get("Authorization") != "Basic dTpwdw==":
            return self._send(401, b"who?", challenge=True)
        if path == "/slow":
            return self._slow()
        name = re.sub(r"^/(plain|drop|drop-plain)/", "/", path)
        body = self.state.files.get(name) or (BODY if path in ("/flaky", "/private") else None)
        if body is None:
            return self._send(404, b"not here")
        ranges = not path.startswith(("/plain/", "/drop-plain/"))
        start = int(re.match(r"bytes=(\d+)-", wanted).group(1)) if wanted and ranges else 0
        if path.startswith(("/drop/", "/drop-plain/")) and self.state.fail_first(path):
            return self._send(200, body, cut=len(body) // 2, ranges=ranges)
        self._send(206 if start else 200, body, start=start, ranges=ranges)

    def _send(self, status: int, body: bytes, start: int = 0, cut: int | None = None,
              ranges: bool = False, challenge: bool = False) -> None:
        self.send_response(status)
        if challenge:
            self.send_header("WWW-Authenticate", 'Basic realm="test"')
        self.send_header("Content-Length", str(len(body) - start))
        if ranges:
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("ETag", '"v1"')
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.end_headers()
        self.wfile.write(body[start:cut])
        if cut is not None:
            self.wfile.flush()
            self.close_connection = True

    def _redirect(self, where: str) -> None:
        self.send_response(302)
        self.send_header("Location", where)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _slow(self) -> None:
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        for index in range(0, len(BODY), len(BODY) // 8):
            self.wfile.write(BODY[index:index + len(BODY) // 8])
            self.wfile.flush()
            time.sleep(0.05)


@pytest.fixture
def server():
    """A fresh server on 127.0.0.1; yields (base URL, state)."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.state = Server()  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.state
    httpd.shutdown()
    httpd.server_close()


class Spy(LocalExecutor):
    def __init__(self):
        super().__init__()
        self.commands = []

    def run(self, command, **kwargs):
        self.commands.append(command)
        return super().run(command, **kwargs)


def context(tmp_path: Path, executor=None, lines: list | None = None) -> AcquireContext:
    return AcquireContext(executor or LocalExecutor(), None, tmp_path,  # type: ignore[arg-type]
                          tmp_path / ".otter" / "cache",
                          (lines if lines is not None else []).append)


def cached(tmp_path: Path) -> list[str]:
    folder = tmp_path / ".otter" / "cache" / "artifacts" / "sha256"
    # leaving out what archive.image_id_of keeps beside a file (.HEX.image): not a partial
    return sorted(p.name for p in folder.iterdir()
                  if not re.fullmatch(r"\.[0-9a-f]{64}\.image", p.name)) \
        if folder.exists() else []


# -- the source's checks ------------------------------------------------------------------

@pytest.mark.parametrize("value, path, words", [
    (Fetch("https://h.test/a", via="target"), "sha256", 'via="target" needs sha256'),
    (Fetch("file:///srv/a", sha256=HEX, via="target"), "url", "file:// URL is read"),
    (Fetch("https://h.test/a b"), "url", "percent-encoded"),
    (Fetch('https://h.test/a"b'), "url", "percent-encoded"),
    (Fetch("ftp://h.test/a"), "url", "http(s):// or file://"),
    (Fetch("https://u:pw@h.test/a", sha256="abc"), "sha256", "64 hex digits"),
    (Fetch("https://h.test/a", via="ship"), "via", ""),
])
def test_check_refuses_with_the_field_path(value, path, words):
    with pytest.raises(FieldError) as info:
        SOURCE.check(value)
    assert info.value.path == path and words in info.value.message


def test_the_source_is_deployable_and_makes_a_file():
    value = Fetch("https://h.test/a", sha256=HEX, via="target")
    assert SOURCE.check(value) == value and SOURCE.unsupported(value) is None
    assert SOURCE.form(value) == "file"


def test_only_an_unpinned_fetch_warns_and_the_warning_hides_the_password():
    assert SOURCE.warnings(Fetch("https://h.test/a", sha256=HEX)) == []
    [warning] = SOURCE.warnings(Fetch("https://u:pw@h.test/a"))
    assert "not pinned" in warning and "u:***@h.test" in warning and "pw" not in warning


# -- controller mode: acquire through the executor -----------------------------------------

def test_a_pinned_file_is_downloaded_verified_and_cached(tmp_path, server):
    base, state = server
    artifact = SOURCE.acquire(Fetch(f"{base}/app.bin", sha256=HEX.upper()), context(tmp_path))
    path = tmp_path / ".otter" / "cache" / "artifacts" / "sha256" / HEX
    assert artifact == Artifact("file", f"sha256:{HEX}", path=path, source=f"{base}/app.bin")
    assert path.read_bytes() == BODY and cached(tmp_path) == [HEX]  # no partial left
    assert state.requests == [("/app.bin", None)]


def test_a_cached_pinned_file_is_reused_without_a_request_or_a_process(tmp_path, server):
    base, state = server
    value = Fetch(f"{base}/app.bin", sha256=HEX)
    first = SOURCE.acquire(value, context(tmp_path))
    spy, lines = Spy(), []
    assert SOURCE.acquire(value, context(tmp_path, spy, lines)) == first
    assert state.count() == 1 and spy.commands == [] and "is in the cache" in lines[0]


def test_an_unpinned_download_records_the_digest_of_what_came(tmp_path, server):
    base, state = server
    value = Fetch(f"{base}/app.bin")
    assert SOURCE.acquire(value, context(tmp_path)).digest == f"sha256:{HEX}"
    SOURCE.acquire(value, context(tmp_path))
    assert state.count() == 2  # unpinned: what the URL serves may have changed


def test_a_digest_mismatch_names_the_url_redacted_and_both_digests(tmp_path, server):
    base, _ = server
    url = base.replace("http://", "http://u:pw@") + "/private"
    with pytest.raises(OtterError) as info:
        SOURCE.acquire(Fetch(url, sha256=WRONG), context(tmp_path))
    message = str(info.value)
    assert "u:***@127.0.0.1" in message and "pw@" not in message
    assert f"expected {WRONG}" in message and f"got {HEX}" in message
    assert cached(tmp_path) == []  # nothing kept, no partial file


@pytest.mark.parametrize("path, words", [("/missing", "HTTP 404 Not Found"),
                                         ("/loop", "more than 10 redirects")])
def test_http_errors_and_redirect_loops_fail_acquire(tmp_path, server, path, words):
    base, state = server
    url = base.replace("http://", "http://u:pw@") + path
    with pytest.raises(OtterError) as info:
        SOURCE.acquire(Fetch(url, sha256=HEX), context(tmp_path))
    assert words in str(info.value) and "u:***@" in str(info.value)
    assert "pw@" not in str(info.value) and cached(tmp_path) == []
    assert state.count(path) == (1 if path == "/missing" else 11)  # no retry of a 404


def test_a_redirect_and_basic_auth_from_the_url_are_followed(tmp_path, server):
    base, state = server
    moved = SOURCE.acquire(Fetch(f"{base}/moved", sha256=HEX), context(tmp_path))
    assert moved.digest == f"sha256:{HEX}" and state.count("/app.bin") == 1
    private = base.replace("http://", "http://u:pw@") + "/private"
    shutil.rmtree(tmp_path / ".otter")
    spy = Spy()
    assert SOURCE.acquire(Fetch(private), context(tmp_path, spy)).digest == f"sha256:{HEX}"
    assert "pw" not in " ".join(c.display() for c in spy.commands)  # the URL on stdin


def test_a_500_is_retried_with_backoff(tmp_path, server):
    base, state = server
    state.failures["/flaky"] = 2
    lines: list[str] = []
    artifact = SOURCE.acquire(Fetch(f"{base}/flaky", sha256=HEX), context(tmp_path, None, lines))
    assert artifact.digest == f"sha256:{HEX}" and state.count("/flaky") == 3
    assert [line for line in lines if "HTTP 500" in line] == [
        f"{base}/flaky: HTTP 500 Internal Server Error; again in 0.5s",
        f"{base}/flaky: HTTP 500 Internal Server Error; again in 1.0s"]


def test_retries_are_bounded(tmp_path, server):
    base, state = server
    state.failures["/flaky"] = 99
    with pytest.raises(OtterError, match=r"HTTP 500 .*\(4 tries\)"):
        download(f"{base}/flaky", tmp_path, None, lambda _: None, backoff=0.01)
    assert state.count() == 4 and list(tmp_path.iterdir()) == []


def test_a_dropped_connection_resumes_with_a_range(tmp_path, server):
    base, state = server
    state.failures["/drop/app.bin"] = 1
    lines: list[str] = []
    artifact = SOURCE.acquire(Fetch(f"{base}/drop/app.bin", sha256=HEX),
                              context(tmp_path, None, lines))
    assert artifact.path.read_bytes() == BODY
    assert state.requests == [("/drop/app.bin", None),
                              ("/drop/app.bin", f"bytes={len(BODY) // 2}-")]
    assert any(f"from byte {len(BODY) // 2}" in line for line in lines)


def test_a_dropped_connection_without_range_support_starts_again(tmp_path, server):
    base, state = server
    state.failures["/drop-plain/app.bin"] = 1
    artifact = SOURCE.acquire(Fetch(f"{base}/drop-plain/app.bin", sha256=HEX),
                              context(tmp_path))
    assert artifact.path.read_bytes() == BODY and state.count() == 2


def test_a_resume_names_the_version_it_continues(tmp_path, server):
    base, state = server
    state.failures["/drop/app.bin"] = 1
    download(f"{base}/drop/app.bin", tmp_path, HEX, lambda _: None, backoff=0.01)
    assert state.if_range == [None, '"v1"']  # a changed file would come whole


def test_progress_lines_come_at_most_every_interval(tmp_path, server, monkeypatch):
    base, _ = server
    now = [0.0]

    def monotonic() -> float:  # a clock that moves 70 ms each time the download reads it
        now[0] += 0.07
        return now[0]
    monkeypatch.setattr(fetching, "time", SimpleNamespace(monotonic=monotonic, sleep=time.sleep))
    monkeypatch.setattr(fetching, "PROGRESS_EVERY", 0.12)
    said: list[tuple[float, str]] = []
    download(f"{base}/slow", tmp_path, HEX, lambda line: said.append((now[0], line)))
    lines = [line for _, line in said]
    ticks = [line for line in lines if " at " in line]
    at = [when for when, line in said if " at " in line]
    # 1 MB in 256 KB chunks: four looks at the clock after the start, every other one shown
    assert len(ticks) == 2 and at[1] - at[0] >= 0.12, said
    assert re.fullmatch(rf"{base}/slow: \d+\.\d [KM]B of 1\.0 MB \(\d+%\) at [\d.]+ MB/s", ticks[0])
    assert re.fullmatch(rf"{base}/slow: 1\.0 MB in [\d.]+s \([\d.]+ MB/s\), sha256 {HEX[:12]}",
                        lines[-1])


def test_a_file_url_is_read_from_disk(tmp_path):
    source = tmp_path / "my app.bin"
    source.write_bytes(BODY)
    url = "file://" + str(source).replace(" ", "%20")
    assert SOURCE.acquire(Fetch(url, sha256=HEX), context(tmp_path)).path.read_bytes() == BODY
    with pytest.raises(OtterError, match="cannot read file:///nowhere/x: No such file"):
        SOURCE.acquire(Fetch("file:///nowhere/x"), context(tmp_path))


def docker_archive() -> tuple[bytes, str]:
    """The shape of a `docker save` archive: manifest.json naming a config by its digest."""
    config = json.dumps({"rootfs": {"type": "layers", "diff_ids": []}}).encode()
    config_hex = hashlib.sha256(config).hexdigest()
    manifest = json.dumps([{"Config": f"{config_hex}.json", "RepoTags": ["app:1"],
                            "Layers": []}]).encode()
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w") as tar:
        for name, data in ((f"{config_hex}.json", config), ("manifest.json", manifest)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue(), f"sha256:{config_hex}"


def test_a_fetched_docker_archive_is_an_image_artifact(tmp_path, server):
    base, state = server
    data, image_id = docker_archive()
    state.files["/app.tar"] = data
    artifact = SOURCE.acquire(Fetch(f"{base}/app.tar"), context(tmp_path))
    assert artifact.form == "image" and artifact.digest == image_id
    assert artifact.path.read_bytes() == data  # shipped from the file, not the engine


def test_a_plan_records_the_download_and_requests_nothing(tmp_path, server):
    base, state = server
    planned = PlannedExecutor(LocalHost("controller"))
    artifact = SOURCE.acquire(Fetch(f"{base}/app.bin", sha256=HEX), context(tmp_path, planned))
    assert artifact.digest == f"sha256:{HEX}" and state.count() == 0
    [command] = planned.commands
    assert command.description == f"download {base}/app.bin" and command.shell


def test_via_target_records_the_url_and_downloads_nothing(tmp_path, server):
    base, state = server
    spy = Spy()
    artifact = SOURCE.acquire(Fetch(f"{base}/app.bin", sha256=HEX, via="target"),
                              context(tmp_path, spy))
    assert artifact == Artifact("file", f"sha256:{HEX}", url=f"{base}/app.bin",
                                source=f"{base}/app.bin")
    assert state.count() == 0 and spy.commands == [] and not (tmp_path / ".otter").exists()


# -- target mode: commands/download.py run here ------------------------------------------

def store_run(url: str, digest: str, store: Path, path: str | None = None):
    command = target_download.fetch_into_store(url, digest, store_dir=str(store))
    if path is not None:
        command = dataclasses.replace(command, env={"PATH": path})
    return LocalExecutor().run(command)


def only(tmp_path: Path, *tools: str) -> str:
    """A PATH folder with the tools the script needs and `tools` (name or name=target)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in ("sh", "mkdir", "sha256sum", "cut", "chmod", "mv", "rm", *tools):
        name, _, target = tool.partition("=")
        if not (folder / name).exists():
            os.symlink(target or shutil.which(name), folder / name)
    return str(folder)


@pytest.mark.parametrize("tool", ["curl", "wget", "wget=/bin/busybox"])
def test_a_target_downloads_into_its_store_verified(tmp_path, server, tool):
    base, state = server
    store = tmp_path / "store"
    result = store_run(f"{base}/moved", HEX, store, only(tmp_path, tool))
    assert result.exited == 0, result.stderr
    assert os.listdir(store) == [HEX] and (store / HEX).read_bytes() == BODY
    again = store_run(f"{base}/moved", HEX, store, only(tmp_path, tool))
    assert again.exited == 0 and state.count("/app.bin") == 1  # stored: nothing fetched


def test_a_target_refuses_another_digest_and_keeps_nothing(tmp_path, server):
    base, _ = server
    result = store_run(f"{base}/app.bin", WRONG, tmp_path / "store")
    assert result.exited == target_download.EXIT_MISMATCH == 3
    assert f"downloaded sha256 {HEX}, expected {WRONG}" in result.stderr
    assert os.listdir(tmp_path / "store") == []
    message = target_download.failure(result, "web1", f"{base}/app.bin")
    assert message.startswith(f"web1 downloaded {base}/app.bin, but its digest is wrong")


@pytest.mark.parametrize("path, tool", [("/missing", "curl"), ("/loop", "curl"),
                                        ("/missing", "wget")])
def test_a_target_download_error_exits_5_and_keeps_nothing(tmp_path, server, path, tool):
    base, _ = server
    result = store_run(f"{base}{path}", HEX, tmp_path / "store", only(tmp_path, tool))
    assert result.exited == target_download.EXIT_FAILED
    assert os.listdir(tmp_path / "store") == []
    assert "cannot download" in target_download.failure(result, "web1", "URL")


def test_a_target_without_curl_or_wget_is_named(tmp_path, server):
    base, _ = server
    result = store_run(f"{base}/app.bin", HEX, tmp_path / "store", only(tmp_path))
    assert result.exited == target_download.EXIT_NO_DOWNLOADER == 4
    assert target_download.failure(result, "web1", "URL") == \
        "web1 has neither curl nor wget: cannot download URL (install one)"


@pytest.mark.parametrize("tool", ["curl", "wget"])
def test_a_password_in_the_url_goes_in_on_stdin_never_argv(tmp_path, server, tool):
    base, _ = server
    url = base.replace("http://", "http://u:pw@") + "/private"
    command = target_download.fetch_into_store(url, HEX, "shown", store_dir=str(tmp_path))
    assert "pw" not in " ".join(command.argv_values()) and "(secret)" in command.display()
    assert command.description == f"download shown into the store as {HEX[:12]}"
    result = store_run(url, HEX, tmp_path / "store", only(tmp_path, tool))
    assert result.exited == 0, result.stderr


class StoreRuntime:
    """A runtime of files at ship: the target's store."""

    name, forms = "store", ("file",)

    def probe(self, artifact):
        return store.probe(artifact.digest)

    def receive(self, artifact):
        return store.receive(artifact.digest)


@pytest.mark.parametrize("exited, words", [(0, ""), (4, "web1 has neither curl nor wget"),
                                           (3, "web1 downloaded https://u:***@h.test/a, "
                                               "but its digest is wrong")])
def test_ship_has_the_target_download_a_url_artifact(exited, words):
    from otterfile.transfer.ship import ship
    artifact = Artifact("file", f"sha256:{HEX}", url="https://u:pw@h.test/a",
                        source="https://u:***@h.test/a")
    target = RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("look for"): "missing\n",
        lambda c: c.description.startswith("download"): exited})
    if words:
        with pytest.raises(OtterError, match=re.escape(words)):
            ship(artifact, StoreRuntime(), target, None)  # type: ignore[arg-type]
    else:
        result = ship(artifact, StoreRuntime(), target, None)  # type: ignore[arg-type]
        assert result.shipped and result.bytes == 0
    assert [c.argv for c in target.commands] == [
        store.probe(artifact.digest).argv,
        target_download.fetch_into_store(artifact.url, artifact.digest).argv]

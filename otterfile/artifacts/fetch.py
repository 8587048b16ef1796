"""The `fetch(url, sha256=..., via=...)` source: a pre-built file (a tarball, a binary, or a
`docker save` archive) fetched by URL.

via="controller" (the default): the controller downloads it once into its cache keyed by
digest; a cached file whose digest is pinned is reused without a request. The download
runs through the executor (`download_command`, this module's `main` with httpx), like every
process of a source, so `otter plan` records it and touches no network. via="target": each
target downloads it at ship (commands/download.py); acquire only records URL and digest.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable
from urllib.parse import unquote, urlsplit

from otterfile.command import Command, script
from otterfile.errors import OtterError
from otterfile.secrets import Secret
from otterfile.report.text import human_size
from otterfile.load.validate import check_choice, check_str, fail, got
from otterfile.artifacts import archive
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.build import redact, split_credentials

if TYPE_CHECKING:
    import httpx

TRIES = 4  # attempts without progress before a download gives up
BACKOFF = 0.5  # seconds before the second attempt; doubled for each further one
MAX_REDIRECTS = 10
PROGRESS_EVERY = 1.0  # seconds between progress lines
CHUNK = 256 * 1024
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
EXIT_MISMATCH = 3
ROOT = str(Path(__file__).resolve().parents[2])  # the folder that holds the package
MAIN = "import sys; from otterfile.artifacts.fetch import main; sys.exit(main(sys.argv[1:]))"
# $1 the package's folder, $2 python, $3 MAIN, $4 cache, $5 pin or -; stdin: the URL
RUN_MAIN = 'cd "$1" && exec "$2" -c "$3" "$4" "$5"'


class FetchSource:
    """fetch(url, sha256=None, via="controller" | "target")."""

    name = "fetch"

    def check(self, value: Any) -> Any:
        check_str("url", value.url)
        shown = redact(value.url)
        if not re.match(r"^(https?|file)://", value.url):
            fail("url", f"expected an http(s):// or file:// URL, {got(shown)}")
        if re.search(r'[\s"\\\x00-\x1f\x7f]', value.url):
            fail("url", f"spaces, quotes, backslashes and control characters must be "
                 f"percent-encoded in a URL, {got(shown)}")
        if value.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(value.sha256)):
            fail("sha256", f"expected 64 hex digits, {got(value.sha256)}")
        check_choice("via", value.via, ("controller", "target"))
        if value.via == "target" and value.sha256 is None:
            fail("sha256", 'via="target" needs sha256=HEX: each target verifies what it '
                 "downloads against it")
        if value.via == "target" and value.url.startswith("file://"):
            fail("url", 'via="target" downloads over http(s); a file:// URL is read by the '
                 "controller (leave via out)")
        return value

    def unsupported(self, value: Any) -> str | None:
        return None

    def named_image(self, value: Any) -> str | None:
        return None

    def build_host(self, value: Any) -> str | None:
        return None

    def built_on(self, value: Any, host: str) -> Any:
        raise ValueError(f"{self.name}(...) is acquired on the controller")

    def form(self, value: Any) -> str:
        return "file"

    def warnings(self, value: Any) -> list[str]:
        """What `otter plan` should point out: an unpinned download."""
        if value.sha256 is not None:
            return []
        return [f"fetch({redact(value.url)}) is not pinned: every deploy takes whatever the "
                "URL serves then; give sha256=HEX of the file you tested"]

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        return acquire(value, ctx)


SOURCE = FetchSource()


def acquire(value: Any, ctx: AcquireContext) -> Artifact:
    """The file at `value.url`, verified and kept in the controller's cache (or, for
    via="target", only its URL and digest: each target downloads it at ship)."""
    shown, pin = redact(value.url), (value.sha256 or "").lower() or None
    if value.via == "target":
        return Artifact("file", f"sha256:{pin}", url=value.url, source=shown)
    cache = ctx.cache_dir / "artifacts" / "sha256"
    with ctx.lock():
        if pin and (cache / pin).is_file():
            ctx.on_output(f"{shown}: sha256 {pin[:12]} is in the cache")
            hexes = pin
        else:
            hexes = _download(ctx, value.url, pin, cache, shown)
    path = cache / hexes
    image = archive.image_id_of(path)
    if image:  # a `docker save` archive ships as the image it holds
        return Artifact("image", image, path=path, source=shown)
    return Artifact("file", f"sha256:{hexes}", path=path, source=shown)


def _download(ctx: AcquireContext, url: str, pin: str | None, cache: Path, shown: str) -> str:
    def line(stream: str, text: str) -> None:
        if stream == "stdout" and not text.startswith("sha256 "):
            ctx.on_output(text)

    result = ctx.executor.run(download_command(url, cache, pin), on_output=line)
    if not result.ok:
        raise OtterError(result.tail(3) or f"cannot download {shown} (exit {result.exited})")
    printed = re.findall(r"^sha256 ([0-9a-f]{64})$", result.stdout, re.M)
    if pin:  # the download checked it (and a plan, which runs nothing, prints nothing)
        return pin
    if not printed:
        raise OtterError(f"the download of {shown} printed no digest")
    return str(printed[-1])


def download_command(url: str, cache: Path, pin: str | None) -> Command:
    """Run `main` on the controller: download `url` into `cache`; prints `sha256 HEX`.
    The URL goes in on stdin (it may carry a password)."""
    line = url + "\n"
    return script(RUN_MAIN, args=[ROOT, sys.executable, MAIN, str(cache), pin or "-"],
                  stdin=Secret("fetch URL", line) if "@" in urlsplit(url).netloc else line,
                  description=f"download {redact(url)}")


def main(argv: list[str]) -> int:
    """`python -c MAIN CACHE PIN|-` with the URL on stdin: download it into CACHE/<hex>;
    progress lines and `sha256 HEX` on stdout, a failure on stderr (exit 3: mismatch)."""
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so the partial file goes
    folder, pin = Path(argv[0]), (None if argv[1] == "-" else argv[1])
    url = sys.stdin.readline().rstrip("\n")
    say = lambda text: print(text, flush=True)  # noqa: E731
    try:
        print(f"sha256 {download(url, folder, pin, say)}", flush=True)
    except Mismatch as error:
        print(error, file=sys.stderr)
        return EXIT_MISMATCH
    except OtterError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


class Mismatch(OtterError):
    """What was downloaded is not the pinned digest."""


def download(url: str, folder: Path, pin: str | None, say: Callable[[str], None], *,
             tries: int = TRIES, backoff: float = BACKOFF) -> str:
    """Download `url` (http(s) or file://) into `folder`/<hex>, written under a temporary
    name and renamed once verified against `pin`; returns the hex."""
    shown = redact(url)
    folder.mkdir(parents=True, exist_ok=True)
    partial = _Partial(folder / f".{hashlib.sha256(url.encode()).hexdigest()[:16]}.partial")
    try:
        progress = _Progress(say, shown)
        if url.startswith("file://"):
            _copy(url, partial, progress, shown)
        else:
            _get(url, partial, progress, shown, say, tries, backoff)
        hexes = partial.finish()
        progress.done(partial.size, hexes)
        if pin and hexes != pin:
            raise Mismatch(f"{shown}: sha256 mismatch: expected {pin}, got {hexes}")
        os.replace(partial.path, folder / hexes)
        return hexes
    finally:
        partial.discard()


class _Partial:
    """The file being written and the digest of what it holds so far."""

    def __init__(self, path: Path):
        self.path = path
        self.validator: str | None = None  # ETag or Last-Modified, for If-Range
        self.file = open(path, "wb")
        self.hasher, self.size = hashlib.sha256(), 0

    def write(self, chunk: bytes) -> None:
        self.file.write(chunk)
        self.hasher.update(chunk)
        self.size += len(chunk)

    def restart(self) -> None:
        self.file.seek(0)
        self.file.truncate()
        self.hasher, self.size, self.validator = hashlib.sha256(), 0, None

    def finish(self) -> str:
        self.file.flush()
        os.fsync(self.file.fileno())  # renamed only once its bytes are on disk
        self.file.close()
        return self.hasher.hexdigest()

    def discard(self) -> None:
        self.file.close()
        self.path.unlink(missing_ok=True)


class _Progress:
    """A line at most every PROGRESS_EVERY seconds: how much, of what, how fast."""

    def __init__(self, say: Callable[[str], None], shown: str):
        self.say, self.shown = say, shown
        self.started = self.last = time.monotonic()

    def tick(self, size: int, total: int | None) -> None:
        now = time.monotonic()
        if now - self.last < PROGRESS_EVERY:
            return
        self.last = now
        of = f" of {human_size(total)} ({100 * size // total}%)" if total else ""
        self.say(f"{self.shown}: {human_size(size)}{of} at {human_size(size / (now - self.started))}/s")

    def done(self, size: int, hexes: str) -> None:
        took = max(time.monotonic() - self.started, 1e-6)
        self.say(f"{self.shown}: {human_size(size)} in {took:.1f}s ({human_size(size / took)}/s), "
                 f"sha256 {hexes[:12]}")


def _copy(url: str, partial: _Partial, progress: _Progress, shown: str) -> None:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise OtterError(f"{shown}: a file:// URL names a path on this machine (file:///path)")
    path = Path(unquote(parts.path))
    try:
        with open(path, "rb") as source:
            total = os.fstat(source.fileno()).st_size
            while chunk := source.read(CHUNK):
                partial.write(chunk)
                progress.tick(partial.size, total)
    except OSError as error:
        raise OtterError(f"cannot read {shown}: {error.strerror or error}") from None


class _Retry(Exception):
    """This attempt failed in a way another may not (a 5xx, a short body)."""


def _get(url: str, partial: _Partial, progress: _Progress, shown: str,
         say: Callable[[str], None], tries: int, backoff: float) -> None:
    """GET with retries (connection errors, 5xx), resuming by Range where the server
    allows; `tries` attempts in a row without progress, then an error."""
    import httpx  # loads only where a download runs
    clean, user, password = split_credentials(url)
    auth = (user, password.reveal()) if password else None
    # identity: the bytes as served (as curl gets them), which is what sha256 pins
    headers = {"Accept-Encoding": "identity", "User-Agent": "otter"}
    failed = 0
    with httpx.Client(auth=auth, headers=headers, follow_redirects=True,
                      max_redirects=MAX_REDIRECTS, timeout=httpx.Timeout(60, connect=10)) \
            as client:
        while True:
            before = partial.size
            try:
                return _attempt(client, clean, partial, progress, shown)
            except httpx.TooManyRedirects:
                raise OtterError(f"{shown}: more than {MAX_REDIRECTS} redirects "
                                 "(a redirect loop?)") from None
            except httpx.InvalidURL as error:
                raise OtterError(f"{shown}: not a valid URL: {error}") from None
            except (httpx.TransportError, _Retry) as error:
                reason = str(error) or type(error).__name__
            failed = 1 if partial.size > before else failed + 1
            if failed >= tries:
                raise OtterError(f"cannot download {shown}: {reason} ({tries} tries)")
            delay = backoff * 2 ** (failed - 1)
            say(f"{shown}: {reason}; again in {delay:.1f}s"
                + (f" from byte {partial.size}" if partial.size else ""))
            time.sleep(delay)


def _attempt(client: httpx.Client, url: str, partial: _Partial, progress: _Progress, shown: str) -> None:
    headers = {}
    if partial.size:
        headers["Range"] = f"bytes={partial.size}-"
        if partial.validator:  # a changed file answers 200 (all of it) instead
            headers["If-Range"] = partial.validator
    with client.stream("GET", url, headers=headers) as response:
        status = response.status_code
        if status in RETRY_STATUSES:
            raise _Retry(f"HTTP {status} {response.reason_phrase}")
        if status == 416 and partial.size:  # its end moved under us: from the start
            partial.restart()
            raise _Retry("HTTP 416 (the file changed)")
        if status not in (200, 206):
            raise OtterError(f"GET {shown}: HTTP {status} {response.reason_phrase}")
        if status == 206 and not _resumes(response, partial.size):
            partial.restart()
            raise _Retry("the server sent another range than asked")
        if status == 200 and partial.size:
            partial.restart()  # no resume here: the whole file again
        partial.validator = _validator(response) if status == 200 else partial.validator
        length = response.headers.get("Content-Length")
        total = partial.size + int(length) if length and length.isdigit() else None
        for chunk in response.iter_raw(CHUNK):
            partial.write(chunk)
            progress.tick(partial.size, total)
        if total is not None and partial.size != total:
            raise _Retry(f"the body ended at byte {partial.size} of {total}")


def _resumes(response: httpx.Response, offset: int) -> bool:
    """Does this 206 answer start where the partial file ends?"""
    found = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return found is not None and int(found.group(1)) == offset


def _validator(response: httpx.Response) -> str | None:
    """A strong ETag, else Last-Modified: what If-Range may name."""
    etag: str = response.headers.get("ETag", "")
    if etag and not etag.startswith("W/"):
        return etag
    modified: str | None = response.headers.get("Last-Modified")
    return modified

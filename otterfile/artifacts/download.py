"""The controller's downloader for `fetch(url)`: a process of its own that fetch.py starts
through the executor (`python -c MAIN CACHE PIN|-`, the URL on stdin).

`download` copies a file:// URL or GETs an http(s) one into CACHE/<hex>: written under a
temporary name, resumed by Range after a failed attempt where the server allows, retried
with backoff while attempts make progress, verified against the pin, then renamed. Progress
lines go to stdout at most every PROGRESS_EVERY seconds; `sha256 HEX` ends a success.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Callable
from urllib.parse import unquote, urlsplit

from otterfile.errors import OtterError
from otterfile.report.text import human_size
from otterfile.artifacts.urls import redact, split_credentials

if TYPE_CHECKING:
    import httpx

TRIES = 4  # attempts without progress before a download gives up
BACKOFF = 0.5  # seconds before the second attempt; doubled for each further one
MAX_REDIRECTS = 10
PROGRESS_EVERY = 1.0  # seconds between progress lines
CHUNK = 256 * 1024
RETRY_STATUSES = {408, 425, 429, 500, 502, 503, 504}
EXIT_MISMATCH = 3


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
        rate = human_size(size / (now - self.started))
        self.say(f"{self.shown}: {human_size(size)}{of} at {rate}/s")

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


def _attempt(client: httpx.Client, url: str, partial: _Partial, progress: _Progress,
             shown: str) -> None:
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

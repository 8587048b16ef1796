"""A target downloads a file artifact itself (`fetch(..., via="target")`) into its store.

curl or wget, whichever the target has, writes a private temporary name; sha256sum checks
it before the rename, so a partial or wrong download never looks stored. The URL goes in
on stdin, never on a command line (it may carry a password); BusyBox wget, which takes it
only as an argument, is refused a URL with a password. Builders only.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from otterfile.command import Command, script
from otterfile.executors.base import Result
from otterfile.secrets import Secret
from otterfile.scripts import load
from otterfile.commands import store

EXIT_MISMATCH = 3  # what arrived is not the digest asked for
EXIT_NO_DOWNLOADER = 4  # neither curl nor wget on the target
EXIT_FAILED = 5  # curl or wget failed (HTTP error, no connection, redirect loop)
EXIT_ARGV_ONLY = 6  # only BusyBox wget, and the URL carries a password
FETCH_SCRIPT = load("fetch-into-store.sh")  # store, hex, "secret"; stdin: the URL


def fetch_into_store(url: str, digest: str, shown: str = "",
                     store_dir: str = store.STORE) -> Command:
    """Download `url` into the target's store as `digest`, verified (exit 3: another
    digest, 4: no curl or wget, 5: the download failed, 6: only BusyBox wget for a URL
    with a password). `shown` is the URL as messages print it (its password as ***)."""
    hexes = store.hex_of(digest)
    line, secret = url + "\n", "@" in urlsplit(url).netloc
    return script(FETCH_SCRIPT, args=[store_dir, hexes, "secret" if secret else ""],
                  stdin=Secret("fetch URL", line) if secret else line,
                  description=f"download {shown or url} into the store as {hexes[:12]}")


def failure(result: Result, host: str, shown: str) -> str:
    """What a failed `fetch_into_store` means, in a person's words."""
    why = result.tail(3)
    if result.exited == EXIT_NO_DOWNLOADER:
        return f"{host} has neither curl nor wget: cannot download {shown} (install one)"
    if result.exited == EXIT_ARGV_ONLY:
        return (f"{host} has only BusyBox wget, which takes a URL only on its command line, "
                f"where `ps` would show the password of {shown}: install curl or GNU wget "
                "there (apt-get install curl, apk add curl), or leave via= out so the "
                "controller downloads it")
    if result.exited == EXIT_MISMATCH:
        return f"{host} downloaded {shown}, but its digest is wrong: {why}"
    return f"{host} cannot download {shown} (exit {result.exited}): {why}"

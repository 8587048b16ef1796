"""A target downloads a file artifact itself (`fetch(..., via="target")`) into its store.

curl or wget, whichever the target has, writes a private temporary name; sha256sum checks
it before the rename, so a partial or wrong download never looks stored. The URL goes in
on stdin, never on a command line (it may carry a password). Builders only.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from ..command import Command, script
from ..executors.base import Result
from ..secrets import Secret
from . import store

EXIT_MISMATCH = 3  # what arrived is not the digest asked for
EXIT_NO_DOWNLOADER = 4  # neither curl nor wget on the target
EXIT_FAILED = 5  # curl or wget failed (HTTP error, no connection, redirect loop)

# $1 store folder, $2 hex; stdin: the URL. GNU wget reads it with -i; BusyBox wget has
# no -i and gets it as an argument.
FETCH_SCRIPT = r"""
d=$1 want=$2
IFS= read -r url || [ -n "$url" ] || { echo "otter: no URL given" >&2; exit 1; }
umask 022; mkdir -p "$d" || exit 1
[ -f "$d/$want" ] && exit 0
t="$d/.$want.otter-tmp.$$"
trap 'rm -f "$t"' EXIT
trap 'exit 143' TERM INT HUP
if command -v curl >/dev/null 2>&1; then
  printf 'url = "%s"\n' "$url" | curl -fsSL --retry 3 --max-redirs 10 -o "$t" -K - || exit 5
elif command -v wget >/dev/null 2>&1; then
  if wget --version >/dev/null 2>&1; then
    printf '%s\n' "$url" | wget -q -O "$t" -i - || { echo "otter: wget failed" >&2; exit 5; }
  else
    wget -q -O "$t" "$url" || { echo "otter: wget failed" >&2; exit 5; }
  fi
else
  echo "otter: neither curl nor wget is installed" >&2; exit 4
fi
got=$(sha256sum "$t" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "otter: downloaded sha256 $got, expected $want" >&2; exit 3
fi
chmod 644 "$t" && mv -f "$t" "$d/$want"
"""


def fetch_into_store(url: str, digest: str, shown: str = "",
                     store_dir: str = store.STORE) -> Command:
    """Download `url` into the target's store as `digest`, verified (exit 3: another
    digest, 4: no curl or wget, 5: the download failed). `shown` is the URL as messages
    print it (its password as ***)."""
    hexes = store.hex_of(digest)
    line = url + "\n"
    return script(FETCH_SCRIPT, args=[store_dir, hexes],
                  stdin=Secret("fetch URL", line) if "@" in urlsplit(url).netloc else line,
                  description=f"download {shown or url} into the store as {hexes[:12]}")


def failure(result: Result, host: str, shown: str) -> str:
    """What a failed `fetch_into_store` means, in a person's words."""
    why = result.tail(3)
    if result.exited == EXIT_NO_DOWNLOADER:
        return f"{host} has neither curl nor wget: cannot download {shown} (install one)"
    if result.exited == EXIT_MISMATCH:
        return f"{host} downloaded {shown}, but its digest is wrong: {why}"
    return f"{host} cannot download {shown} (exit {result.exited}): {why}"

"""The content-addressed artifact store on a target: `/var/lib/otter/artifacts/sha256/<hex>`.

A file is written under a private temporary name, its sha256 checked, then renamed: a
partial or corrupt upload never looks complete. Builders only; nothing here runs.
"""
from __future__ import annotations

import re
from dataclasses import replace

from otterfile import scripts
from otterfile.command import Command, script
from otterfile.errors import OtterError
from otterfile.run.state import DEFAULT_BASE, check_name

STORE = "/var/lib/otter/artifacts/sha256"
# <base>/artifacts/started/<deployment>/<hex>: otter started a release of that deployment
# from that artifact (an image or a stored file). `remove` takes away only what these
# records (or the labels of the deployment's instances) name, never what releases.json
# alone names.
STARTED = "artifacts/started"
EXIT_MISMATCH = 3  # receive: what arrived is not the digest asked for

_HEX = re.compile(r"[0-9a-f]{64}")

# $1 store folder, $2 hex. Prints present or missing.
PROBE_SCRIPT = r"""
if [ -f "$1/$2" ]; then echo present; else echo missing; fi
"""

# stdin: the file; it watches its own feed when guarded (receive-guard.sh, feed-watch.sh)
RECEIVE_SCRIPT = scripts.load("feed-watch.sh") + scripts.load("store/receive.sh")
STORED = "otter: stored"  # then.sh: the receive's part ended well, the next command runs

# $1 store folder, then the hex digests to remove.
PRUNE_SCRIPT = r"""
d=$1; shift
for h; do rm -f -- "$d/$h"; rm -rf -- "$d/.unpacked/$h"; done
"""


def hex_of(digest: str) -> str:
    """The 64 hex of a file digest ("sha256:HEX" or "HEX"); else OtterError."""
    value = digest.split(":", 1)[1] if digest.startswith("sha256:") else digest
    if not _HEX.fullmatch(value):
        raise OtterError(f"not a sha256 digest: {digest!r}")
    return value


def started_dir(deployment: str, base: str = DEFAULT_BASE) -> str:
    """The folder of a deployment's started-artifact records."""
    return f"{base.rstrip('/')}/{STARTED}/{check_name(deployment)}"


def started_record(deployment: str, digest: str, base: str = DEFAULT_BASE) -> str:
    """The record a start writes first; "" for a digest that is no sha256 (nothing to
    remove by it later)."""
    try:
        return f"{started_dir(deployment, base)}/{hex_of(digest)}"
    except OtterError:
        return ""


def hex_or_none(digest: str) -> str | None:
    """`hex_of`, or None for what is no sha256 digest."""
    try:
        return hex_of(digest)
    except OtterError:
        return None


def started(records: list[str], labels: list[str]) -> frozenset[str]:
    """The digests (as hex) otter started a deployment from on a target: its records (file
    names: 64 hex), and the digests its own instances are labelled with."""
    found = {r for r in records if _HEX.fullmatch(r)}
    found.update(h for h in map(hex_or_none, labels) if h)
    return frozenset(found)


def forget_started(deployment: str, digests: list[str], base: str = DEFAULT_BASE) -> Command:
    """The started records of pruned artifacts removed (a new start writes one again)."""
    return script('d=$1; shift; for h; do rm -f -- "$d/$h"; done',
                  args=[started_dir(deployment, base), *(hex_of(d) for d in digests)],
                  description=f"forget pruned artifacts of {deployment}")


def path(digest: str, store: str = STORE) -> str:
    """Where a file artifact lives on a target."""
    return f"{store}/{hex_of(digest)}"


def probe(digest: str, store: str = STORE) -> Command:
    """Does the target's store hold the file? Prints `present` or `missing`."""
    return script(PROBE_SCRIPT, args=[store, hex_of(digest)],
                  description=f"look for {hex_of(digest)[:12]} in the store")


def receive(digest: str, store: str = STORE,
            unpack: tuple[str, int, int, int] | None = None) -> Command:
    """Write stdin into the store under its digest, verified (exit 3: another digest); with
    `unpack` (compression, most bytes, most members, size: transfer/unpacked.on_arrival) a
    tar archive is also unpacked as it arrives, for the systemd start to check and take."""
    extra = [unpack[0], *map(str, unpack[1:])] if unpack else []
    return script(RECEIVE_SCRIPT, args=[store, hex_of(digest), *extra], ok_codes=(0,),
                  description=f"store {hex_of(digest)[:12]}")


BESIDE = "otter: beside "  # then.sh: what ran beside `then` (its exit status, its output)


def receive_then(receive: Command, then: Command,
                 beside: Command | None = None) -> tuple[Command, bytes]:
    """`receive` (reading the file on stdin) and, only once the file is stored and its
    digest checked, `then` (and `beside` at the same time, in the background), in one
    round trip (scripts/store/then.sh); with the bytes to send before the file: `then`'s
    own input (an env file). A line STORED on stdout and stderr parts the receive's output
    from `then`'s; a line BESIDE + its exit status then `beside`'s (its stdin /dev/null:
    its own input goes into its command line, where nothing secret may be)."""
    if any(c.secret_env() or c.secret for c in (receive, beside) if c) or then.secret_env():
        raise ValueError("receive_then: a command with secret env values reads them on stdin")
    first = then.stdin_bytes() or b""
    extra = [_with_input(beside).shell_line()] if beside is not None else []
    command = script(scripts.load("store/then.sh"),
                     args=[str(len(first)), receive.shell_line(), then.shell_line(), *extra],
                     description=f"{receive.description}, then {then.description}")
    return command, first


def _with_input(command: Command) -> Command:
    """`command` fed its stdin text from its own command line (`printf`, a built-in)."""
    data = command.stdin_bytes()
    if data is None:
        return command
    return script('printf %s "$1" | sh -c "$2"',
                  args=[data.decode(), replace(command, stdin=None).shell_line()],
                  description=command.description)


def prune(digests: list[str], store: str = STORE) -> Command:
    """Remove these files from the store (those missing are no error)."""
    return script(PRUNE_SCRIPT, args=[store, *map(hex_of, digests)],
                  description=f"prune {len(digests)} stored artifacts")

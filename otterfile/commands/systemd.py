"""Builders for the systemd runtime's commands on a target; they never run anything.

A release is a unit `otter-<deployment>@<release>.service` (one unit file per release in
/etc/systemd/system) running the artifact unpacked into
/var/lib/otter/<deployment>/releases/<release>/, as an unprivileged user, on a free port of
127.0.0.1. /var/lib/otter/<deployment>/data survives releases. Reading units back (status,
listing) is in systemd_status.py.
"""
from __future__ import annotations

import hashlib
import math
import re
from typing import Sequence

from otterfile import scripts
from otterfile.command import Command, SecretText, cmd, script
from otterfile.errors import OtterError
from otterfile.values import PORT_RANGE
from otterfile.run.state import DEFAULT_BASE, check_name, state_dir
from otterfile.commands import container, store

UNIT_DIR = "/etc/systemd/system"
STOP_SECONDS = 10  # how long a release gets to stop before it is killed

_UNIT = re.compile(r"otter-(?P<dep>[^@/]+)@(?P<release>[^@/]+)\.service")
_SAFE_WORD = re.compile(r"[A-Za-z0-9_./:=,+@%$-]+")
_USER = re.compile(r"[a-z_][a-z0-9_-]{0,31}")

POLL_SECONDS = 0.2
STOP_SCRIPT = scripts.load("systemd/stop.sh")
REMOVE_SCRIPT = scripts.load("systemd/remove.sh")

# Listing, checking (members, size, count) and unpacking an archive: shell functions.
UNPACK = scripts.load("unpack.sh").replace("@CHECK_AWK@", scripts.load("archive-check.awk"))
assert "'" not in scripts.load("archive-check.awk")  # it goes in single quotes

# The start script after the functions it runs (unpacking, the ports something listens on).
START_SCRIPT = UNPACK + scripts.load("listening.sh") + scripts.load("systemd/start.sh")


def unit_name(deployment: str, release: str) -> str:
    """The unit of a release: otter-<deployment>@<release>.service."""
    return f"otter-{check_name(deployment)}@{check_name(release, 'release')}.service"


def release_dir(deployment: str, release: str, base: str = DEFAULT_BASE) -> str:
    """Where a release's artifact is unpacked (its working directory)."""
    return f"{releases_dir(deployment, base)}/{check_name(release, 'release')}"


def releases_dir(deployment: str, base: str = DEFAULT_BASE) -> str:
    """The folder of a deployment's release folders."""
    return f"{state_dir(deployment, base)}/releases"


def data_dir(deployment: str, base: str = DEFAULT_BASE) -> str:
    """The folder a deployment may write to; it survives releases."""
    return f"{state_dir(deployment, base)}/data"


def default_user(deployment: str) -> str:
    """The system user made for a deployment: otter-<deployment> when that is a valid user
    name (lower case, at most 32), else a shortened one with a hash of the name."""
    name = f"otter-{check_name(deployment)}"
    if _USER.fullmatch(name):
        return name
    short = re.sub(r"[^a-z0-9_-]", "-", deployment.lower())[:17]
    return f"otter-{short}-{hashlib.sha256(deployment.encode()).hexdigest()[:8]}"


def split_unit(unit: str) -> tuple[str, str]:
    """(deployment, release) of a unit name otter gives; else OtterError."""
    found = _UNIT.fullmatch(unit)
    if not found:
        raise OtterError(f"{unit!r} is not a unit otter names")
    return check_name(found["dep"]), check_name(found["release"], "release")


def unit_word(word: str) -> str:
    """One word of an ExecStart line as systemd reads it back: `%` and `$` escaped, quoted
    when needed; `{port}` becomes `${PORT}` (systemd fills it in from the environment)."""
    if word == ";":
        return "\\;"
    text, rest = word.replace("%", "%%").replace("$", "$$"), word.replace("{port}", "")
    if not word or (rest and not _SAFE_WORD.fullmatch(rest)):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return text.replace("{port}", "${PORT}")


def exec_start(words: Sequence[str], deployment: str, release: str,
               base: str = DEFAULT_BASE) -> str:
    """The ExecStart value: a relative program is in the release folder; a bare name is
    resolved on the target (the release folder first, then PATH)."""
    program = words[0]
    if "/" in program and not program.startswith("/"):
        program = f"{release_dir(deployment, release, base)}/{program.removeprefix('./')}"
    return " ".join([program, *map(unit_word, words[1:])])


def env_text(text: str | SecretText) -> str | SecretText:
    """An env file as systemd's EnvironmentFile= reads it: each value double-quoted, with
    `\\`, `"`, `$` and backquote escaped (systemd unquotes and unescapes values)."""
    def quoted(lines: str) -> str:
        out = []
        for line in lines.splitlines():
            key, _, value = line.partition("=")
            value = re.sub(r'([\\"$`])', r"\\\1", value)
            out.append(f'{key}="{value}"\n')
        return "".join(out)
    if not isinstance(text, SecretText):
        return quoted(text)
    result = SecretText(quoted(text))
    result.masked = quoted(text.masked)
    return result


def single_name(words: Sequence[str]) -> str:
    """Where a single-file artifact goes in its release folder: the path the command runs it
    by. The program when it is relative (`./app`, `bin/app`), else the first argument
    starting with `./` (`python3 ./app.pyz`), else the program's name (`app serve`)."""
    def relative(word: str) -> bool:
        parts = word.removeprefix("./").split("/")
        return bool(_SAFE_WORD.fullmatch(word)) and ".." not in parts and "" not in parts
    program = words[0]
    if "/" in program and not program.startswith("/") and relative(program):
        return program.removeprefix("./")
    for word in words[1:]:
        if word.startswith("./") and relative(word):
            return word.removeprefix("./")
    return program.rsplit("/", 1)[-1]


def start_unit(*, deployment: str, release: str, digest: str, unit_text: str, program: str,
               single: str, user: str, make_user: bool, env: str | SecretText | None = None,
               env_file: str | None = None, base: str = DEFAULT_BASE,
               unit_dir: str = UNIT_DIR, artifacts: str = store.STORE,
               port_range: tuple[int, int] = PORT_RANGE, max_unpacked: int | None = None,
               max_files: int | None = None, record: str = "",
               listen_seconds: float = 0) -> Command:
    """One round trip: write the `record` file (store.STARTED), unpack the stored artifact
    into the release folder (refusing members that escape it, links out, device files, and
    archives unpacking to more than `max_unpacked` bytes or `max_files` files; None:
    scripts/unpack.sh's defaults), make the user, write the env file from stdin, pick a
    free port of 127.0.0.1, install the unit (verified with systemd-analyze) and start it;
    then wait, while it runs and at most `listen_seconds`, until it listens on its port.
    Prints `port=N` and `unit=NAME`; exit values.EXIT_NO_PORT: no free port."""
    if env is not None and not env_file:
        raise OtterError("start_unit: env given without an env_file path")
    unit = unit_name(deployment, release)
    shown = next((line[10:] for line in unit_text.splitlines()
                  if line.startswith("ExecStart=")), program)
    args = [deployment, base, release, store.path(digest, artifacts), unit_dir, user,
            "1" if make_user else "0", env_file if env is not None else "", program,
            single, str(port_range[0]), str(port_range[1]), unit_text.rstrip("\n"),
            "" if max_unpacked is None else str(max_unpacked),
            "" if max_files is None else str(max_files), record,
            str(max(0, round(listen_seconds * 10)))]
    return script(START_SCRIPT, args=args, stdin=None if env is None else env_text(env),
                  file=env_file if env is not None else None,
                  writes=((f"{unit_dir.rstrip('/')}/{unit}", unit_text),),
                  description=f"start {unit} as {user}: {shown}")


def parse_started(stdout: str) -> int | str:
    """The port `start_unit` printed: the same `port=N` line as a container's start."""
    return container.parse_started(stdout)


def stop_unit(unit: str, *, drain_seconds: float = 0,
              stop_seconds: float = STOP_SECONDS) -> Command:
    """Stop a unit after letting in-flight requests drain for `drain_seconds`; SIGKILL it
    when it has not stopped `stop_seconds` after SIGTERM."""
    split_unit(unit)
    polls = str(max(1, math.ceil(stop_seconds / POLL_SECONDS)))
    what = f"drain {drain_seconds:g}s, stop {unit}" if drain_seconds > 0 else f"stop {unit}"
    return script(STOP_SCRIPT, args=[f"{max(drain_seconds, 0):g}", unit, polls],
                  description=what)


def remove_units(*units: str, base: str = DEFAULT_BASE, unit_dir: str = UNIT_DIR) -> Command:
    """Stop and disable units, remove their unit files and release folders (never the data
    folder); those already gone are no error."""
    args = [unit_dir]
    for unit in units:
        args += [unit, release_dir(*split_unit(unit), base)]
    return script(REMOVE_SCRIPT, args=args, description=f"remove {', '.join(units)}")


def logs(unit: str, *, follow: bool = False, tail: int = 100) -> Command:
    """What the unit's processes wrote to the journal (not systemd's lines about it), as
    `docker logs` shows a container's: `journalctl _SYSTEMD_UNIT=UNIT -n N [-f]`."""
    split_unit(unit)
    return cmd("journalctl", f"_SYSTEMD_UNIT={unit}", "-n", str(tail), "--no-pager", "-q",
               "-o", "cat", *(["-f"] if follow else []), description=f"logs of {unit}")


def prune(digests: Sequence[str], keep: Sequence[str] = ()) -> Command:
    """Remove stored artifacts in `digests` except those in `keep`."""
    kept = {store.hex_of(d) for d in keep}
    return store.prune([d for d in dict.fromkeys(digests) if store.hex_of(d) not in kept])

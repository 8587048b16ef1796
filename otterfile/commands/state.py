"""Builders that read and write a deployment's release state and deploy log on a target."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, Callable, Mapping

from otterfile import scripts
from otterfile.command import Command, script
from otterfile.values import Instance
from otterfile.run.deploy_log import parse_log
from otterfile.run.state import DEFAULT_BASE, State, state_dir
from otterfile.run.state_file import Kinds, parse_state
from otterfile.commands.files import write_file

if TYPE_CHECKING:
    from otterfile.executors.base import Result

INSTANCES_MARK = "--- otter:instances"  # then " KIND": the instances that kind lists
LOG_MARK = "--- otter:log"

READ_SCRIPT = scripts.load("state/releases.sh")  # then pairs of a kind and its listing

# $1 state folder, $2 one JSON line.
APPEND_SCRIPT = r"""
umask 022; { [ -d "$1" ] || mkdir -p "$1"; } && printf '%s\n' "$2" >> "$1/deploy.log"
"""


@dataclass(frozen=True)
class TargetState:
    """What a target knows of a deployment: releases, its instances (each tagged with the
    runtime kind that listed it), recent deploys."""

    state: State
    instances: list[Instance] = field(default_factory=list)
    log: list[dict[str, Any]] = field(default_factory=list)
    listed: frozenset[str] = frozenset()  # the runtime kinds whose instances were listed
    # (release id, runtime kind, how it was told) of records that name no runtime, an older
    # otter's (run/kinds.py): "found" (its instance is listed there), "named" (only that
    # kind names an instance so), "assumed" (the Otterfile's)
    assumed: tuple[tuple[str, str, str], ...] = ()


def read_state(deployment: str, listings: Mapping[str, Command], *, log_lines: int = 0,
               every: bool = False, base: str = DEFAULT_BASE) -> Command:
    """One round trip: releases.json, the deployment's instances and the last `log_lines`
    deploy-log records (see `parse_read`). `listings`: runtime kind -> its listing; the
    first is always run, another when releases.json names its kind (`every`: all). A
    missing file is an empty state."""
    args = [state_dir(deployment, base), str(log_lines), "1" if every else "0"]
    for kind, listing in listings.items():
        args += [kind, listing.shell_line()]
    return script(READ_SCRIPT, args=args, description=f"read state of {deployment}")


def parse_read(stdout: str, parsers: Mapping[str, Callable[[str], list[Instance]]],
               where: str = "releases.json", kinds: Kinds | None = None) -> TargetState:
    """A TargetState from what `read_state` printed (`parsers`: runtime kind -> its
    listing's parser; a marker without a kind is the first's); the state is checked as
    `parse_state` does."""
    sections: dict[str, list[str]] = {"state": [], "log": []}
    key, first = "state", next(iter(parsers))
    for line in stdout.splitlines(keepends=True):
        words = line.split()
        if words[:2] == INSTANCES_MARK.split() and len(words) <= 3:
            key = words[2] if len(words) == 3 else first
            sections.setdefault(key, [])
        elif line.rstrip("\n") == LOG_MARK:
            key = "log"
        else:
            sections[key].append(line)
    instances = [replace(i, kind=kind) for kind, parse in parsers.items()
                 if kind in sections for i in parse("".join(sections[kind]))]
    listed = frozenset(k for k in sections if k in parsers)
    return TargetState(parse_state("".join(sections["state"]), where, kinds), instances,
                       parse_log("".join(sections["log"])), listed)


def state_path(deployment: str, base: str = DEFAULT_BASE) -> str:
    """Where a deployment's releases.json lives on a target."""
    return f"{state_dir(deployment, base)}/releases.json"


def write_state(deployment: str, content: str, *, base: str = DEFAULT_BASE) -> Command:
    """Replace releases.json atomically with `content` (from `format_state`)."""
    path = state_path(deployment, base)
    return replace(write_file(path, content, mode=0o644,
                              description=f"write state of {deployment}"),
                   writes=((path, None),))  # its text holds times: plans name it only


CHANGED_MARK = "--- otter:changed"  # write_around: the command succeeded
EXIT_STATE = 90  # write_around: the state before the command was not written; nothing ran

# The command's own line goes between the two (it reads the script's stdin).
AROUND_BEFORE = scripts.load("state/around-before.sh")
AROUND_AFTER = scripts.load("state/around-after.sh")


def write_around(deployment: str, command: Command, before: str | None, after: str, *,
                 base: str = DEFAULT_BASE) -> Command:
    """One round trip: releases.json becomes `before` (None: left as it is), then `command`
    runs and, only when it succeeded, releases.json becomes `after`. Exit EXIT_STATE: the
    first write failed and `command` never ran; else `command`'s status until it succeeded
    (a `CHANGED_MARK` line then), non-zero after that when the second write failed."""
    if command.ok_codes != (0,):
        raise ValueError("the command between two state writes succeeds with exit 0 only")
    path = state_path(deployment, base)
    return script(AROUND_BEFORE + command.shell_line() + "\n" + AROUND_AFTER,
                  args=[path, before or "", after], stdin=command.stdin, file=command.file,
                  description=f"{command.description}; write state of {deployment}",
                  writes=(*command.writes, (path, None)))


def changed(result: Result) -> bool:
    """Whether the command of a `write_around` ran and succeeded (whatever the write after
    it did)."""
    return CHANGED_MARK in result.stdout.splitlines()


def append_log(deployment: str, record: str, *, base: str = DEFAULT_BASE) -> Command:
    """Append one deploy-log record (a JSON line from `log_record`) to deploy.log."""
    if "\n" in record:
        raise ValueError("a deploy-log record is one line")
    return script(APPEND_SCRIPT, args=[state_dir(deployment, base), record],
                  description=f"append to the deploy log of {deployment}")


def env_file_path(deployment: str, release: str, base: str = DEFAULT_BASE) -> str:
    """Where a release's env file lives on the target (mode 600, root only)."""
    return f"{state_dir(deployment, base)}/env/{release}.env"


KEY_SCRIPT = scripts.load("state/fingerprint-key.sh")  # made once, then printed


def key_path(deployment: str, base: str = DEFAULT_BASE) -> str:
    """The key that makes release fingerprints unguessable (mode 600): a fingerprint covers
    secret values, so without the key nobody can test guesses against it."""
    return f"{state_dir(deployment, base)}/fingerprint.key"


def fingerprint_key(deployment: str, *, base: str = DEFAULT_BASE) -> Command:
    """Print the deployment's fingerprint key on the target, making it the first time."""
    return script(KEY_SCRIPT, args=[key_path(deployment, base)],
                  description=f"fingerprint key of {deployment}")

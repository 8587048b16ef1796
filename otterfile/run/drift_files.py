"""The drift gate's file texts (run/drift.py): what the target's read of its generated files
printed, a unit as the start script installed it, an env file with its values masked, and
unified diffs of the target's text against the Otterfile's. Pure: no process, no network."""
from __future__ import annotations

import difflib

from otterfile.run.state import PORT_PLACEHOLDER
from otterfile.secrets import MASK

FILE_MARK = "--- otter:file "  # scripts/read-files.sh: a line before each file's text
OTHER = f"{MASK} (another value)"  # a secret whose value on the target is not the declared


def parse_files(text: str) -> dict[str, str]:
    """Path -> text of what scripts/read-files.sh printed (each line ends with a newline:
    a last one without is not told apart, and a diff compares lines)."""
    out: dict[str, str] = {}
    path = None
    for line in text.splitlines():
        if line.startswith(FILE_MARK):
            path = line[len(FILE_MARK):]
            out[path] = ""
        elif path is not None and line.startswith("|"):
            out[path] += line[1:] + "\n"
    return out


def as_started(text: str, port: int | str | None, installed: str) -> str:
    """A generated unit as systemd/start.sh installs it: the port it picked in
    `Environment=PORT=`, a bare program name resolved to the path `installed` names (when
    the rest of its ExecStart is the same), and one newline at the end."""
    ran = next((line for line in installed.splitlines() if line.startswith("ExecStart=")), "")
    out = []
    for line in text.rstrip("\n").splitlines():
        if line == f"Environment=PORT={PORT_PLACEHOLDER}" and port is not None:
            line = f"Environment=PORT={port}"
        elif line.startswith("ExecStart=") and ran:
            program, _, rest = line[len("ExecStart="):].partition(" ")
            there, _, there_rest = ran[len("ExecStart="):].partition(" ")
            if "/" not in program and there.endswith("/" + program) and rest == there_rest:
                line = ran
        out.append(line)
    return "\n".join(out) + "\n"


def mask_env(text: str, declared: str, secret: frozenset[str]) -> str:
    """An env file's text safe to show: a value only where the Otterfile gives its key a
    plain value (`declared` is the env file a run writes, `secret` the keys of secrets);
    a secret's value as ***, or `*** (another value)` where it is not the declared one;
    the value of a key the Otterfile does not declare as *** (it may have been a secret)."""
    lines = {line.partition("=")[0]: line for line in declared.splitlines() if "=" in line}
    out = []
    for line in text.splitlines():
        key, equals, _ = line.partition("=")
        if not equals:
            out.append(line if not line.strip() else MASK)  # not KEY=VALUE: shown as nothing
        elif key in lines and key not in secret:
            out.append(line)
        elif key in lines and key in secret:
            out.append(f"{key}={MASK if lines[key] == line else OTHER}")
        else:
            out.append(f"{key}={MASK}")
    return "\n".join(out) + ("\n" if out else "")


def unified(have: str, want: str, before: str, after: str) -> str:
    """A unified diff from `have` (the target's text, named `before`) to `want` (what the
    Otterfile generates, named `after`); "" when their lines are the same."""
    lines = list(difflib.unified_diff(have.splitlines(), want.splitlines(), before, after,
                                      lineterm=""))
    return "\n".join(lines) + "\n" if lines else ""

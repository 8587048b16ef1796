"""Remote shell scripts as files: POSIX sh, shellcheck-clean, their arguments named at the
top (`name=$1`). A builder loads one with `load("relay-authorize.sh")` and runs it through
`command.script(text, args=[...])`, so user values reach it as arguments, never formatted
into its text."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from otterfile.scripts.compact import compact

FOLDER = Path(__file__).parent


@lru_cache(maxsize=None)
def load(name: str) -> str:
    """The text of script `name` as it is sent: a path under this folder
    (`systemd/start.sh`), its comment lines left out (compact.py)."""
    return compact((FOLDER / name).read_text(), name)

"""The user's build command: running it once, and reading which image it tags.

`run_build` runs `sh -c COMMAND` in the build folder through the executor, streams its lines
and keeps the last TAIL_LINES for `BuildFailed`. `image_tag` (kinds.py: evaluation checks
with it) reads the `-t`/`--tag` of the last `docker build` (or podman build) in the command,
so `build(...)` needs no `image=` when the command names its image itself.
"""
from __future__ import annotations

import collections
from pathlib import Path
from typing import Callable

from otterfile.command import cmd
from otterfile.errors import OtterError
from otterfile.executors.base import Executor, Result
from otterfile.artifacts.source_checks import image_tag, shell_words

__all__ = ["BuildFailed", "TAIL_LINES", "image_tag", "run_build", "shell_words"]

TAIL_LINES = 20


class BuildFailed(OtterError):
    """The build command exited non-zero: names the source, the exit code, the last lines."""

    def __init__(self, source: str, exited: int, tail: list[str]):
        self.source, self.exited, self.tail = source, exited, tail
        shown = "\n".join(f"  {line}" for line in tail)
        super().__init__(f"build of {source} failed (exit {exited})"
                         + (f"; last lines:\n{shown}" if shown else ""))


def run_build(executor: Executor, command: str, build_dir: Path, origin: str,
              on_output: Callable[[str], None]) -> Result:
    """Run the build command once as `sh -c COMMAND` in `build_dir`, streaming its lines."""
    tail: collections.deque[str] = collections.deque(maxlen=TAIL_LINES)

    def line(_stream: str, text: str) -> None:
        tail.append(text)
        on_output(text)

    result = executor.run(cmd("sh", "-c", command, cwd=str(build_dir),
                              description=f"build {origin}"), on_output=line)
    if not result.ok:
        raise BuildFailed(origin, result.exited, list(tail))
    return result

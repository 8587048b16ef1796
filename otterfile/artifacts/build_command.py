"""The user's build command: running it once, and reading which image it tags.

`run_build` runs `sh -c COMMAND` in the build folder through the executor, streams its lines
and keeps the last TAIL_LINES for `BuildFailed`. `image_tag` reads the `-t`/`--tag` of the
last `docker build` (or podman build) in the command, so `build(...)` needs no `image=` when
the command names its image itself.
"""
from __future__ import annotations

import collections
import shlex
from pathlib import Path
from typing import Callable

from otterfile.command import cmd
from otterfile.errors import OtterError
from otterfile.executors.base import Executor, Result

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


def shell_words(command: str) -> list[str] | None:
    """A shell command's words, its operators (`&&`, `|`, `;`...) words of their own; None
    when it does not parse (an open quote)."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        return list(lexer)
    except ValueError:
        return None


def image_tag(command: str) -> str | None:
    """The `-t`/`--tag` of the last `docker build` (or podman build) in a shell command."""
    words = shell_words(command)
    if words is None:
        return None
    found = None
    for segment in _segments(words):
        found = _build_tag(segment) or found
    return found


def _segments(words: list[str]) -> list[list[str]]:
    segments: list[list[str]] = [[]]
    for word in words:
        if word and all(c in "();<>|&" for c in word):
            segments.append([])
        else:
            segments[-1].append(word)
    return segments


def _build_tag(words: list[str]) -> str | None:
    while words and "=" in words[0] and not words[0].startswith("-"):
        words = words[1:]  # VAR=value before the program
    if not words or Path(words[0]).name not in ("docker", "podman"):
        return None
    args = words[1:]
    if args[:1] in (["image"], ["buildx"]):  # docker image build, docker buildx build
        args = args[1:]
    if args[:1] != ["build"]:
        return None
    args = args[1:]
    for index, arg in enumerate(args):
        if arg in ("-t", "--tag") and index + 1 < len(args):
            return args[index + 1]
        if arg.startswith("--tag="):
            return arg[len("--tag="):]
        if arg.startswith("-t") and not arg.startswith("--") and len(arg) > 2:
            return arg[2:]
    return None

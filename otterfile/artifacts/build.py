"""The `build(...)` source: get the source, run the build once, identify the result.

A repository is cloned once into the cache (a mirror keyed by a hash of its URL) and
fetched afterwards; the ref resolves to a commit whose tree is exported into a clean build
folder keyed by commit. Every command goes through the executor, so a build host could be
any host; the controller's image store (the Docker SDK) identifies the image made.
"""
from __future__ import annotations

import collections
import hashlib
import re
import shlex
from pathlib import Path
from typing import Any, Callable

from ..command import cmd
from ..commands import git
from ..errors import OtterError
from ..executors.base import Executor, Result
from ..validate import check_str, fail
from .base import AcquireContext, Artifact, ImageStore

TAIL_LINES = 20


class BuildFailed(OtterError):
    """The build command exited non-zero: names the source, the exit code, the last lines."""

    def __init__(self, source: str, exited: int, tail: list[str]):
        self.source, self.exited, self.tail = source, exited, tail
        shown = "\n".join(f"  {line}" for line in tail)
        super().__init__(f"build of {source} failed (exit {exited})"
                         + (f"; last lines:\n{shown}" if shown else ""))


class Build:
    """build(repo=..., ref=..., command=...) or build(path=..., command=...)."""

    name = "build"

    def check(self, value: Any) -> Any:
        if (value.repo is None) == (value.path is None):
            fail("repo", "give exactly one of repo=URL or path=DIR")
        check_str("repo" if value.repo is not None else "path", value.repo or value.path)
        check_str("ref", value.ref, optional=True)
        check_str("command", value.command)
        for field in ("image", "output", "push"):
            check_str(field, getattr(value, field), optional=True)
        return value

    def unsupported(self, value: Any) -> str | None:
        for field in ("output", "on", "push"):
            if getattr(value, field) is not None:
                return (f"build({field}=...) is not supported by this version of otter yet "
                        "(a built image is shipped from the controller)")
        return None

    def form(self, value: Any) -> str:
        return "file" if value.output else "image"

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        return acquire(value, ctx)


SOURCE = Build()


def acquire(source: Any, ctx: AcquireContext) -> Artifact:
    """Build `source` once and return the identified artifact."""
    executor, folder = ctx.executor, ctx.folder
    if source.output:
        raise OtterError("build(output=...): file artifacts are not deployable yet")
    tag = source.image or image_tag(source.command)
    if not tag:
        raise OtterError(f"build: cannot tell which image {source.command!r} makes: give "
                         "image=NAME, or a `docker build -t NAME` command")
    if source.repo:
        url = resolve_url(source.repo, folder)
        build_dir, commit = checkout(executor, url, source.ref, ctx.cache_dir)
        origin = f"{url}@{source.ref or 'HEAD'}"
    else:
        url = str((folder / source.path).resolve())
        build_dir, commit, origin = Path(url), _work_tree_commit(executor, url), url
    run_build(executor, source.command, build_dir, origin, ctx.on_output)
    digest = _image_id(ctx.images, tag, origin)
    return Artifact("image", digest, image=tag, commit=commit, ref=source.ref, source=url)


def checkout(executor: Executor, url: str, ref: str | None, cache_dir: Path) -> tuple[Path, str]:
    """Mirror `url` into the cache (or fetch it), resolve `ref`, export that commit.

    Returns (build folder, full commit). An existing export of the commit is re-used.
    """
    key = cache_key(url)
    mirror = cache_dir / "repos" / f"{key}.git"
    _sync_mirror(executor, url, str(mirror))
    commit = resolve_ref(executor, str(mirror), ref or "HEAD", url)
    build_dir = cache_dir / "builds" / key / commit
    if executor.run(git.is_dir(str(build_dir))).exited != 0:
        result = executor.run(git.export(str(mirror), commit, str(build_dir)))
        if not result.ok:
            raise OtterError(f"cannot export {commit} of {url}: {result.tail(5)}")
    return build_dir, commit


def resolve_ref(executor: Executor, git_dir: str, ref: str, url: str) -> str:
    """The full commit id that `ref` (branch, tag, full or short commit) names."""
    result = executor.run(git.rev_parse(git_dir, ref))
    commit = result.stdout.strip()
    if not result.ok or not re.fullmatch(r"[0-9a-f]{40}|[0-9a-f]{64}", commit):
        raise OtterError(f"ref {ref!r} not found in {url} (no such branch, tag or commit)")
    return commit


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


def image_tag(command: str) -> str | None:
    """The `-t`/`--tag` of the last `docker build` (or podman build) in a shell command."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        words = list(lexer)
    except ValueError:
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


def cache_key(url: str) -> str:
    """The cache folder name for a repository: a readable name plus a hash of the URL."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", url.rstrip("/").rsplit("/", 1)[-1])
    name = name.removesuffix(".git")[:40] or "repo"
    return f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:16]}"


def resolve_url(repo: str, folder: Path) -> str:
    """A URL as given; a local path made absolute from the Otterfile's folder."""
    if "://" in repo or re.match(r"^[^/]+@[^/:]+:", repo) or repo.startswith("/"):
        return repo
    return str((folder / repo).resolve())


def _sync_mirror(executor: Executor, url: str, mirror: str) -> None:
    if executor.run(git.is_dir(mirror)).exited == 0:
        result = executor.run(git.fetch(mirror))
        if not result.ok:
            raise OtterError(f"cannot fetch {url}: {result.tail(5)}")
        return
    partial = f"{mirror}.partial"
    executor.run(git.remove(partial))
    result = executor.run(git.clone_mirror(url, partial))
    if not result.ok:
        executor.run(git.remove(partial))
        raise OtterError(f"cannot clone {url}: {result.tail(5)}")
    if not executor.run(git.move(partial, mirror)).ok:
        raise OtterError(f"cannot move the clone of {url} into {mirror}")


def _work_tree_commit(executor: Executor, folder: str) -> str | None:
    result = executor.run(git.work_tree_commit(folder))
    if not result.ok:
        raise OtterError(f"build: cannot use folder {folder}: {result.tail(3)}")
    return result.stdout.strip() or None


def _image_id(images: ImageStore, tag: str, origin: str) -> str:
    digest = images.image_id(tag)
    if not digest:
        raise OtterError(f"the build of {origin} succeeded but made no image {tag!r}: "
                         "does the command tag it so?")
    return digest

"""The `build(...)` source: get the source, run the build once, identify the result.

A repository is cloned once into the cache (a mirror keyed by a hash of its URL) and
fetched afterwards; the ref resolves to a commit whose tree is exported into a clean build
folder keyed by commit. Every command goes through the executor: the controller's, or a
build host's with `on=TARGET` (then its image store, remote_images.RemoteImages, identifies
the image made, and the artifact stays on that host until ship streams it to the targets).
"""
from __future__ import annotations

import collections
import dataclasses
import contextlib
import fcntl
import hashlib
import re
import shlex
import time
from pathlib import Path
from typing import Any, Callable, Iterator, cast
from urllib.parse import unquote, urlsplit, urlunsplit

from otterfile.command import cmd, script
from otterfile.commands import git
from otterfile.commands.files import write_file
from otterfile.errors import OtterError
from otterfile.executors.base import Executor, Result
from otterfile.secrets import Secret
from otterfile.load.validate import check_choice, check_str, fail, got
from otterfile.artifacts import archive
from otterfile.artifacts.base import AcquireContext, Artifact, ImageStore

TAIL_LINES = 20
KEEP_EXPORTS = 3  # exported trees kept per repository; older ones are removed
LOCK_WAIT = 600  # seconds a build waits for another otter building in the same folder
TOKEN_USER = "x-access-token"  # the user GitHub and Gitea accept beside a token


class BuildFailed(OtterError):
    """The build command exited non-zero: names the source, the exit code, the last lines."""

    def __init__(self, source: str, exited: int, tail: list[str]):
        self.source, self.exited, self.tail = source, exited, tail
        shown = "\n".join(f"  {line}" for line in tail)
        super().__init__(f"build of {source} failed (exit {exited})"
                         + (f"; last lines:\n{shown}" if shown else ""))


class BuildSource:
    """build(repo=..., ref=..., command=...) or build(path=..., command=...)."""

    name = "build"

    def check(self, value: Any) -> Any:
        if (value.repo is None) == (value.path is None):
            fail("repo", "give exactly one of repo=URL or path=DIR")
        check_str("repo" if value.repo is not None else "path", value.repo or value.path)
        check_str("ref", value.ref, optional=True)
        check_str("command", value.command)
        for field in ("image", "output", "push", "pull_from"):
            check_str(field, getattr(value, field), optional=True)
        if value.token is not None and not isinstance(value.token, Secret):
            fail("token", "expected secret(\"NAME\"): a token is never written in the file")
        if value.token is not None and value.repo is None:
            fail("token", "a token authenticates to repo=URL; this build has a path")
        if not value.output and not value.image and not image_tag(value.command):
            fail("command", f"cannot tell which image {value.command!r} makes: give "
                 "image=NAME, or a `docker build -t NAME` command")
        _check_push(value)
        return _check_on(value)

    def unsupported(self, value: Any) -> str | None:
        if value.via == "url" and not value.output:
            return ("build(on=..., via=\"url\") of an image is not supported by this version "
                    "of otter yet (it serves files, output=); without via= an image streams "
                    "through the controller's SSH connections")
        return None

    def named_image(self, value: Any) -> str | None:
        return cast("str | None", value.image)

    def build_host(self, value: Any) -> str | None:
        return cast("str | None", value.on)

    def built_on(self, value: Any, host: str) -> Any:
        return dataclasses.replace(value, on=host)

    def form(self, value: Any) -> str:
        return "file" if value.output else "image"

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        return acquire(value, ctx)

    def warnings(self, value: Any) -> list[str]:
        return []


SOURCE = BuildSource()


def _check_on(value: Any) -> Any:
    """on=TARGET (a name or a @target function; the evaluator checks that it exists) and
    via=; the build host clones the repository itself, so it needs a URL or a path there."""
    from dataclasses import replace

    from otterfile.load.dsl import mark_of
    check_choice("via", value.via, ("controller", "url"))
    if value.on is None:
        if value.via != "controller":
            fail("via", "via= says how targets get what a build host built; give on=TARGET")
        return value
    mark = mark_of(value.on)
    on = mark.name if mark is not None and mark.kind == "target" else value.on
    if not isinstance(on, str) or not on.strip():
        fail("on", f"expected a target name or a @target function, {got(on)}")
    if value.path is not None:
        fail("path", f"path= is a folder on the controller; a build on {on} clones "
             "repo=URL there (a URL, or an absolute path on that host)")
    if resolve_url(value.repo, Path("/")) != value.repo:
        fail("repo", f"{value.repo!r} is relative to the controller; a build on {on} "
             "needs a URL or an absolute path on that host")
    return replace(value, on=on)


def _check_push(value: Any) -> None:
    """push=NAME[:TAG], pull_from=NAME (the same repository as the targets reach it), and
    the registry login; only for an image."""
    from otterfile.artifacts.registry import check_login, checked_ref
    if value.push is None:
        if value.pull_from is not None:
            fail("pull_from", "pull_from= names where the targets pull what push= pushed; "
                 "give push= too")
        check_login(value, needs="push")
        return
    if value.output:
        fail("push", "push= pushes an image; this build makes a file (output=)")
    pushed = checked_ref("push", value.push, "a repository to push to")
    if pushed.digest:
        fail("push", f"{value.push!r}: a push names a repository and maybe a tag; the "
             "registry gives the digest")
    if value.pull_from is not None:
        pulled = checked_ref("pull_from", value.pull_from, "a repository")
        if pulled.tag or pulled.digest:
            fail("pull_from", f"{value.pull_from!r}: a repository without tag or digest (the "
                 "targets pull what was pushed, by its digest)")
    check_login(value, needs="push")


def acquire(source: Any, ctx: AcquireContext) -> Artifact:
    """Build `source` once and return the identified artifact; one otter at a time builds
    from a cache (two runs in one folder would race on mirrors and exports)."""
    with ctx.lock() if source.repo else contextlib.nullcontext():
        return _acquire(source, ctx)


@contextlib.contextmanager
def cache_lock(cache_dir: Path, on_output: Callable[[str], None],
               wait: float = LOCK_WAIT) -> Iterator[None]:
    """Hold `cache_dir/.lock` (flock, released when this process ends, however it ends)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    cache_dir.parent.chmod(0o700)
    with open(cache_dir / ".lock", "a") as lock:
        deadline, told = time.monotonic() + wait, False
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise OtterError(f"another otter has been building in {cache_dir} for "
                                     f"{wait:.0f}s; try again when it is done") from None
                if not told:
                    on_output(f"waiting for another otter building in {cache_dir}")
                    told = True
                time.sleep(0.5)
        yield


def _acquire(source: Any, ctx: AcquireContext) -> Artifact:
    executor, folder = ctx.executor, ctx.folder
    tag = source.image or image_tag(source.command)
    if not tag and not source.output:
        raise OtterError(f"build: cannot tell which image {source.command!r} makes: give "
                         "image=NAME, or a `docker build -t NAME` command")
    commit: str | None
    if source.repo:
        url, user, password = split_credentials(resolve_url(source.repo, folder))
        if source.token is not None:
            user, password = user or TOKEN_USER, source.token
        _private_cache(executor, ctx.cache_dir)
        auth = _auth(executor, ctx.cache_dir, user, password) if password else ()
        build_dir, commit = checkout(executor, url, source.ref, ctx.cache_dir, auth)
        origin = f"{url}@{source.ref or 'HEAD'}"
    else:
        url = str((folder / source.path).resolve())
        build_dir, commit, origin = Path(url), _work_tree_commit(executor, url), url
    run_build(executor, source.command, build_dir, origin, ctx.on_output)
    if source.output:
        made = _file(executor, ctx.images, build_dir / source.output, ctx.cache_dir,
                     commit=commit, ref=source.ref, source=url)
        return _served(made, ctx.images) if source.via == "url" else made
    tag = cast(str, tag)  # no output: the check above made sure of a tag
    digest = _image_id(ctx.images, tag, origin)
    if source.push:
        return _push(ctx, source, digest, tag, commit=commit, ref=source.ref, source=url)
    return Artifact("image", digest, image=tag, commit=commit, ref=source.ref, source=url)


def _push(ctx: AcquireContext, value: Any, image_id: str, tag: str,
          **about: Any) -> Artifact:
    """Push the built image (tagged NAME:TAG, the build's own tag when push= has none) and
    pin it by the digest the registry stored: the targets pull exactly that."""
    from otterfile.commands import registries
    from otterfile.artifacts.registry import Pin, Pull, parse_ref
    pushed = parse_ref(value.push)
    to = f"{pushed.name}:{pushed.tag or _tag_of(tag)}"
    login = Pull(pushed, value.username, value.password).login
    result = ctx.executor.run(registries.push("docker", image_id, to, **login),
                              on_output=lambda _stream, line: ctx.on_output(line))
    if not result.ok:
        reason = result.tail(4) or f"exit {result.exited}"
        doing = f"log in to {pushed.server} as {value.username}" \
            if result.exited == registries.EXIT_LOGIN else f"push {to}"
        raise OtterError(f"controller: cannot {doing}: {reason}")
    digest = registries.parse_pushed(result.stdout)
    if digest is None:
        raise OtterError(f"pushed {to} but the push printed no digest: {result.tail(3)}")
    pull = Pull(parse_ref(value.pull_from or pushed.name), value.username,
                value.password, Pin(digest))
    return Artifact("image", digest, image=pull.ref.pinned(digest), pull=pull, **about)


def _tag_of(image: str) -> str:
    """The tag of a built image's name (`latest` when it has none)."""
    from otterfile.artifacts.registry import BadRef, parse_ref
    try:
        return parse_ref(image).tag or "latest"
    except BadRef:
        return "latest"


def _file(executor: Executor, images: ImageStore, output: Path, cache_dir: Path,
          **about: Any) -> Artifact:
    """The built file, kept in the cache under its digest: a `docker save` archive ships
    as the image it holds, anything else as a file."""
    cache = cache_dir / "artifacts" / "sha256"
    kept = executor.run(archive.keep(output, cache))
    hexes = kept.stdout.strip()
    if not kept.ok or not re.fullmatch(r"[0-9a-f]{64}", hexes):
        raise OtterError(f"cannot keep the built file {output}: "
                         f"{kept.tail(3) or 'no digest printed'}")
    path = cache / hexes
    image = images.archive_image_id(path)  # a build host's store reads it there
    if image:
        return Artifact("image", image, path=path, **about)
    return Artifact("file", f"sha256:{hexes}", path=path, **about)


def _served(made: Artifact, images: ImageStore) -> Artifact:
    """build(on=..., via="url"): the build host serves the file; each target downloads it
    and checks its digest. (A plan's store serves nothing: the artifact stays as it is.)"""
    if made.form != "file" or made.path is None:
        return made
    url = images.serve(made.path)  # None: a store on the controller serves nothing
    return made if url is None else dataclasses.replace(made, path=None, url=url)


def split_credentials(url: str) -> tuple[str, str, Secret | None]:
    """(the URL without user:password, the user, the password as a Secret) of an http(s)
    URL; other URLs come back as they are. Messages and git's config see only the first."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, "", None
    userinfo, _, host = parts.netloc.rpartition("@")
    user, _, password = userinfo.partition(":")
    clean = urlunsplit(parts._replace(netloc=host))
    return clean, unquote(user), Secret("repository password", unquote(password)) \
        if password else None


def redact(text: str) -> str:
    """`text` with the password of every http(s) URL in it shown as ***."""
    return re.sub(r"(https?://[^/\s:@]*:)[^/\s@]*@", r"\1***@", text)


def _private_cache(executor: Executor, cache_dir: Path) -> None:
    """`.otter/` (0700) and the cache in it: mirrors, exports and the askpass helper."""
    made = executor.run(script('mkdir -p "$1" && chmod 700 "$1" && mkdir -p "$2"',
                               args=[str(cache_dir.parent), str(cache_dir)],
                               description=f"make {cache_dir}"))
    if not made.ok:
        raise OtterError(f"cannot make {cache_dir}: {made.tail(3)}")


def _auth(executor: Executor, cache_dir: Path, user: str, password: Secret | str) -> git.Env:
    helper = str(cache_dir / "git-askpass")
    written = executor.run(write_file(helper, git.ASKPASS_SCRIPT, mode=0o700))
    if not written.ok:
        raise OtterError(f"cannot write {helper}: {written.tail(3)}")
    return git.auth_env(helper, user, password)


def checkout(executor: Executor, url: str, ref: str | None, cache_dir: Path,
             auth: git.Env = ()) -> tuple[Path, str]:
    """Mirror `url` into the cache (or fetch it), resolve `ref`, export that commit.

    Returns (build folder, full commit). An existing export of the commit is re-used.
    """
    key = cache_key(url)
    mirror = cache_dir / "repos" / f"{key}.git"
    _sync_mirror(executor, url, str(mirror), auth)
    commit = resolve_ref(executor, str(mirror), ref or "HEAD", url)
    build_dir = cache_dir / "builds" / key / commit
    if executor.run(git.is_dir(str(build_dir))).exited != 0:
        result = executor.run(git.export(str(mirror), commit, str(build_dir)))
        if not result.ok:
            raise OtterError(f"cannot export {commit} of {url}: {result.tail(5)}")
    executor.run(git.prune_exports(str(build_dir.parent), KEEP_EXPORTS, commit))
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


def _sync_mirror(executor: Executor, url: str, mirror: str, auth: git.Env) -> None:
    if executor.run(git.is_dir(mirror)).exited == 0:
        executor.run(git.set_origin(mirror, url))
        result = executor.run(git.fetch(mirror, auth))
        if not result.ok:
            raise OtterError(f"cannot fetch {url}: {redact(result.tail(5))}")
        return
    partial = f"{mirror}.partial"
    executor.run(git.remove(partial))
    result = executor.run(git.clone_mirror(url, partial, auth))
    if not result.ok:
        executor.run(git.remove(partial))
        raise OtterError(f"cannot clone {url}: {redact(result.tail(5))}")
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

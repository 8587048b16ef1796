"""The `build(...)` source: get the source, run the build once, identify the result.

This module holds the kind (its checks, `on=`/`via=`) and the acquire flow; git_mirror.py
gets the source of `repo=`, build_command.py runs the command, build_push.py pushes an
image for `push=`. Every command goes through the executor: the controller's, or a build
host's with `on=TARGET` (then its image store, remote_images.RemoteImages, identifies the
image made, and the artifact stays on that host until ship streams it to the targets).
"""
from __future__ import annotations

import contextlib
import dataclasses
import re
from pathlib import Path
from typing import Any, cast

from otterfile.errors import OtterError
from otterfile.executors.base import Executor
from otterfile.artifacts import archive, build_cache, git_mirror
from otterfile.artifacts.base import AcquireContext, Artifact, ImageStore
from otterfile.artifacts.build_command import run_build
from otterfile.artifacts.build_push import push
from otterfile.artifacts.kinds import BuildKind
from otterfile.artifacts.source_checks import image_tag, resolve_url
from otterfile.artifacts.urls import split_credentials


class BuildSource(BuildKind):
    """build(...) acquired: the checks are kinds.BuildKind's."""

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        return acquire(value, ctx)


SOURCE = BuildSource()


def acquire(source: Any, ctx: AcquireContext) -> Artifact:
    """Build `source` once and return the identified artifact; one otter at a time builds
    from a cache (two runs in one folder would race on mirrors and exports)."""
    with ctx.lock() if source.repo else contextlib.nullcontext():
        return _acquire(source, ctx)


def _acquire(source: Any, ctx: AcquireContext) -> Artifact:
    tag = source.image or image_tag(source.command)
    if not tag and not source.output:
        raise OtterError(f"build: cannot tell which image {source.command!r} makes: give "
                         "image=NAME, or a `docker build -t NAME` command")
    build_dir, commit, url, origin = _source_tree(source, ctx)
    cache_key = _cache_key(source, tag, build_dir, ctx.folder)
    if cache_key is not None and tag:
        kept = build_cache.hit(ctx.executor, ctx.cache_dir, cache_key,
                               build_cache.program(source.command), tag)
        if kept is not None:
            ctx.on_output(f"{tag} is {kept[:19]}, built from these inputs before: not rebuilt")
            return Artifact("image", kept, image=tag, commit=commit, ref=source.ref,
                            source=url)
    run_build(ctx.executor, source.command, build_dir, origin, ctx.on_output)
    if source.output:
        made = _file(ctx.executor, ctx.images, build_dir / source.output, ctx.cache_dir,
                     commit=commit, ref=source.ref, source=url)
        return _served(made, ctx.images) if source.via == "url" else made
    tag = cast(str, tag)  # no output: the check above made sure of a tag
    digest = _image_id(ctx.images, tag, origin)
    if cache_key is not None:
        build_cache.keep(ctx.cache_dir, cache_key, digest)
    if source.push:
        return push(ctx, source, digest, tag, commit=commit, ref=source.ref, source=url)
    return Artifact("image", digest, image=tag, commit=commit, ref=source.ref, source=url)


def _cache_key(source: Any, tag: str | None, build_dir: Path, folder: Path) -> str | None:
    """The key of a build that may be skipped when its inputs did not change
    (build_cache.py): an image built from path= on the controller, pushed nowhere."""
    if source.repo or source.on or source.output or source.push or source.pull_from or \
            not tag:
        return None
    private = (folder / ".otter").resolve()  # what otter writes there is no build input
    return build_cache.key(source.command, tag, build_dir,
                           (private / "cache", private / "keys"))


def _source_tree(source: Any, ctx: AcquireContext) -> tuple[Path, str | None, str, str]:
    """(build folder, commit, URL without password, origin for messages): an export of
    repo= at ref= from the cache's mirror, or the path= folder as it is."""
    executor = ctx.executor
    if not source.repo:
        url = str((ctx.folder / source.path).resolve())
        return Path(url), git_mirror.work_tree_commit(executor, url), url, url
    url, user, password = split_credentials(resolve_url(source.repo, ctx.folder))
    if source.token is not None:
        user, password = user or git_mirror.TOKEN_USER, source.token
    git_mirror.private_cache(executor, ctx.cache_dir)
    auth = git_mirror.askpass_env(executor, ctx.cache_dir, user, password) if password else ()
    build_dir, commit = git_mirror.checkout(executor, url, source.ref, ctx.cache_dir, auth)
    return build_dir, commit, url, f"{url}@{source.ref or 'HEAD'}"


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


def _image_id(images: ImageStore, tag: str, origin: str) -> str:
    digest = images.image_id(tag)
    if not digest:
        raise OtterError(f"the build of {origin} succeeded but made no image {tag!r}: "
                         "does the command tag it so?")
    return digest

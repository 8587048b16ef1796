"""Git for `build(repo=...)`: the repository mirrored in the cache and a commit exported.

A repository is cloned once into the cache (a bare mirror keyed by a hash of its URL) and
fetched afterwards; the ref resolves to a commit whose tree is exported into a clean build
folder keyed by commit (the newest KEEP_EXPORTS kept). A password or token reaches git
through an askpass helper in the 0700 cache, never on a command line. Every command goes
through the executor: the controller's, or a build host's with `on=TARGET`.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path

from otterfile.command import script
from otterfile.commands import git
from otterfile.commands.files import write_file
from otterfile.errors import OtterError
from otterfile.executors.base import Executor
from otterfile.secrets import Secret
from otterfile.artifacts.urls import redact

KEEP_EXPORTS = 3  # exported trees kept per repository; older ones are removed
TOKEN_USER = "x-access-token"  # the user GitHub and Gitea accept beside a token


def private_cache(executor: Executor, cache_dir: Path) -> None:
    """`.otter/` (0700) and the cache in it: mirrors, exports and the askpass helper."""
    made = executor.run(script('mkdir -p "$1" && chmod 700 "$1" && mkdir -p "$2"',
                               args=[str(cache_dir.parent), str(cache_dir)],
                               description=f"make {cache_dir}"))
    if not made.ok:
        raise OtterError(f"cannot make {cache_dir}: {made.tail(3)}")


def askpass_env(executor: Executor, cache_dir: Path, user: str, password: Secret | str) -> git.Env:
    """Write the askpass helper into the cache; the environment that makes git use it."""
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


def cache_key(url: str) -> str:
    """The cache folder name for a repository: a readable name plus a hash of the URL."""
    name = re.sub(r"[^A-Za-z0-9._-]", "-", url.rstrip("/").rsplit("/", 1)[-1])
    name = name.removesuffix(".git")[:40] or "repo"
    return f"{name}-{hashlib.sha256(url.encode()).hexdigest()[:16]}"


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


def work_tree_commit(executor: Executor, folder: str) -> str | None:
    """The commit a path= folder is at ("-dirty" when changed), or None outside git."""
    result = executor.run(git.work_tree_commit(folder))
    if not result.ok:
        raise OtterError(f"build: cannot use folder {folder}: {result.tail(3)}")
    return result.stdout.strip() or None

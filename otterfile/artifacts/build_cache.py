"""Skip a `build(path=...)` on the controller whose inputs did not change since it last ran.

Safe by construction, else no skip: only a command that is one `docker build` or
`podman build` (no `&&`, `;` or pipe, so nothing else it runs is unseen), without `--pull`
or `--no-cache` (those ask for a fresh build), whose context and Dockerfile are inside the
build folder. Its key covers the command, the values of the environment variables it names
and, for every entry of the folder, its path, mode, size, modification and change times and
inode: a write to a file changes its change time, which no tool can set back. A hit is used
only when the engine's tag still names the image that build made (one `image inspect`).
Not seen: a base image pulled anew under the same tag (build with `--pull`, or remove
`.otter/cache/builds/`), and OTTER_BUILD_CACHE=0 turns the skip off.
"""
from __future__ import annotations

import hashlib
import os
import re
import stat
from pathlib import Path

from otterfile.artifacts.build_command import shell_words
from otterfile.command import cmd
from otterfile.executors.base import Executor

FOLDER = "builds"  # under the controller's acquire cache (.otter/cache/builds/)
MOST_ENTRIES = 20_000  # a bigger folder is walked by the build itself: no key
FRESH = ("--pull", "--no-cache")
ENV_NAME = re.compile(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)")


def key(command: str, tag: str, build_dir: Path, ours: tuple[Path, ...] = ()) -> str | None:
    """The build's key, or None when it may not be skipped (see the module's rules).
    `ours`: folders otter itself writes on every run (`.otter/cache`, `.otter/keys` when
    the build folder is the Otterfile's), left out of the key."""
    if os.environ.get("OTTER_BUILD_CACHE") == "0":
        return None
    words = _one_build(command)
    if words is None or not _inside(words, build_dir):
        return None
    digest = hashlib.sha256(repr((command, tag, str(build_dir))).encode())
    for name in sorted(set(ENV_NAME.findall(command))):
        digest.update(repr((name, os.environ.get(name))).encode())
    count = 0
    skip = {str(p) for p in ours}
    around = {str(a) for p in ours for a in p.parents}  # .otter: there with them or not
    for top, folders, files in os.walk(build_dir, followlinks=False):
        folders[:] = sorted(f for f in folders if os.path.join(top, f) not in skip)
        for name in [*folders, *sorted(files)]:
            count += 1
            path = os.path.join(top, name)
            if count > MOST_ENTRIES:
                return None
            if path in around:
                continue
            try:
                st = os.lstat(path)
                link = os.readlink(path) if os.path.islink(path) else ""
            except OSError:
                return None
            if stat.S_ISDIR(st.st_mode):  # its entries count one by one; its times move
                digest.update(repr((os.path.relpath(path, build_dir), st.st_mode)).encode())
                continue
            digest.update(repr((os.path.relpath(path, build_dir), st.st_mode, st.st_size,
                                st.st_mtime_ns, st.st_ctime_ns, st.st_ino, link)).encode())
    return digest.hexdigest()


def _one_build(command: str) -> list[str] | None:
    """The words of a command that is one docker/podman build and nothing else."""
    words = shell_words(command)
    if words is None:
        return None
    if any(w and all(c in "();<>|&`" for c in w) for w in words) or "`" in command \
            or "$(" in command:
        return None
    if len(words) < 2 or Path(words[0]).name not in ("docker", "podman"):
        return None
    args = words[1:]
    if args[:1] in (["image"], ["buildx"]):
        args = args[1:]
    if args[:1] != ["build"] or any(a.split("=")[0] in FRESH for a in args):
        return None
    return words


def _inside(words: list[str], build_dir: Path) -> bool:
    """Whether every word that may be a path (the context, -f/--file, any other) names a
    place inside the build folder: one outside is an input the key would not see."""
    root = build_dir.resolve()
    for word in words[2:]:
        if word.startswith("--file="):
            word = word.partition("=")[2]
        elif word.startswith("-f") and len(word) > 2:
            word = word[2:]
        elif word.startswith("-"):
            continue
        if word == "-" or "://" in word or word.startswith("~"):
            return False
        where = (build_dir / word).resolve()
        if where != root and root not in where.parents:
            return False
    return True


def hit(executor: Executor, cache_dir: Path, build_key: str, program: str,
        tag: str) -> str | None:
    """The image id a build of this key made, when the engine's `tag` still names it."""
    try:
        kept = (cache_dir / FOLDER / build_key).read_text().strip()
    except OSError:
        return None
    if not kept:
        return None
    found = executor.run(cmd(program, "image", "inspect", "--format", "{{.Id}}", tag,
                             description=f"is {tag} still the image built"))
    return kept if found.ok and found.stdout.strip() == kept else None


def program(command: str) -> str:
    """The engine the build command runs (docker or podman): it is asked about the tag."""
    words = _one_build(command)
    return words[0] if words else "docker"


def keep(cache_dir: Path, build_key: str, image_id: str) -> None:
    """Remember the image a build of this key made; a failure only costs the next skip."""
    folder = cache_dir / FOLDER
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = folder / f".{build_key}.{os.getpid()}"
        temporary.write_text(image_id + "\n")
        os.replace(temporary, folder / build_key)
    except OSError:
        pass

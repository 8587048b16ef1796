"""What the artifact kinds (kinds.py) check of their values beyond single fields, and what
their handlers read alike: a build on a build host (`on=`, `via=`), `push=` and a registry
login, a repository's URL, the image name a build command tags, the name targets give an
image. Pure functions of the Otterfile's values: no handler is imported here."""
from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any

from otterfile.load.validate import check_choice, check_str, fail, got
from otterfile.secrets import Secret
from otterfile.artifacts.image_ref import checked_ref, parse_ref

_USER = re.compile(r"[^\s\x00-\x1f\x7f]+")


def check_on(value: Any) -> Any:
    """on=TARGET (a name or a @target function; the evaluator checks that it exists) and
    via=; the build host clones the repository itself, so it needs a URL or a path there."""
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
    return dataclasses.replace(value, on=on)


def check_push(value: Any) -> None:
    """push=NAME[:TAG], pull_from=NAME (the same repository as the targets reach it), and
    the registry login; only for an image."""
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


def check_login(value: Any, needs: str | None = None) -> None:
    """`username=` (text) and `password=secret(...)`: both or neither; `needs`: the field
    without which they mean nothing (build's push)."""
    if value.username is not None:
        check_str("username", value.username)
        if not _USER.fullmatch(value.username):
            fail("username", f"spaces and control characters cannot be in a user name, "
                 f"{got(value.username)}")
    if value.password is not None and not isinstance(value.password, Secret):
        fail("password", 'expected secret("NAME"): a password is never written in the file')
    if (value.username is None) != (value.password is None):
        fail("password" if value.password is None else "username",
             "give both username= and password=secret(...), or neither")
    if needs and value.password is not None and getattr(value, needs) is None:
        fail("password", f"a registry login is for {needs}=...; this build has none")


def resolve_url(repo: str, folder: Path) -> str:
    """A URL as given; a local path made absolute from the Otterfile's folder."""
    if "://" in repo or re.match(r"^[^/]+@[^/:]+:", repo) or repo.startswith("/"):
        return repo
    return str((folder / repo).resolve())


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


def target_name(ref: str) -> str | None:
    """The name the targets tag the image with: the reference without a digest (None when
    it has only a digest: the targets then run the image by its id)."""
    parsed = parse_ref(ref)
    if parsed.digest and not parsed.tag:
        return None
    return f"{parsed.name}:{parsed.tag}" if parsed.tag else parsed.name

"""The artifact source kinds as an Otterfile declares them: each kind's checks of its value
(`build(...)`, `fetch(...)`, `registry(...)`, `image(...)`) and what evaluation asks of it
(its form, its build host); `DECLARED` is the table. Evaluating an Otterfile imports only
this; a kind's handler (its acquire: build.py, fetch.py, registry.py, image.py, and what
they import) loads when the run first asks for it (`handler_at`, artifacts.KINDS).
"""
from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path
from typing import Any, Protocol, cast

from otterfile.load import model
from otterfile.load.validate import check_choice, check_str, fail, got
from otterfile.secrets import Secret
from otterfile.artifacts.image_ref import BadRef, checked_ref, parse_ref
from otterfile.artifacts.urls import redact

_USER = re.compile(r"[^\s\x00-\x1f\x7f]+")
FULL_ID = re.compile(r"(?:sha256:[0-9a-f]{64}|[0-9a-f]{64})")  # never a repository name


class SourceKind(Protocol):
    """An artifact source kind as evaluation sees it; its handler (`handler_at`) is the
    whole kind (base.ArtifactSource, which acquires), its module imported on first use."""

    name: str

    def check(self, value: Any) -> Any:
        """The Otterfile value, checked field by field (FieldError with a path)."""

    def unsupported(self, value: Any) -> str | None:
        """Why this version cannot deploy `value` yet, or None."""

    def form(self, value: Any) -> str:
        """What acquiring it makes: "image" or "file"."""

    def warnings(self, value: Any) -> list[str]:
        """What `otter plan` should warn about (an unpinned download), if anything."""

    def named_image(self, value: Any) -> str | None:
        """The image name the Otterfile gives what it makes (build(image=...)), or None."""

    def build_host(self, value: Any) -> str | None:
        """The target the artifact is acquired on (build(on=...)), or None: the controller.
        A target's name in the Otterfile, its address or its host name as evaluation goes."""

    def built_on(self, value: Any, host: str) -> Any:
        """`value` acquired on `host` (evaluation resolves the name the user wrote)."""

    # where the kind's handler (base.ArtifactSource, which acquires) is: "MODULE:NAME",
    # imported when the engine first asks (artifacts.KINDS); this module never imports it
    handler_at: str


class BuildKind:
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
        check_push(value)
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

    def warnings(self, value: Any) -> list[str]:
        return []

    handler_at = "otterfile.artifacts.build:SOURCE"


class OnController:
    """What a source acquired on the controller answers alike (fetch, registry, image):
    no build host, nothing unsupported, no image name of its own, no warning. A source
    inherits these and overrides what differs."""

    name: str

    def unsupported(self, value: Any) -> str | None:
        return None

    def named_image(self, value: Any) -> str | None:
        return None

    def build_host(self, value: Any) -> str | None:
        return None

    def built_on(self, value: Any, host: str) -> Any:
        raise ValueError(f"{self.name}(...) is acquired on the controller")

    def warnings(self, value: Any) -> list[str]:
        return []


class FetchKind(OnController):
    """fetch(url, sha256=None, via="controller" | "target")."""

    name = "fetch"

    def check(self, value: Any) -> Any:
        check_str("url", value.url)
        shown = redact(value.url)
        if not re.match(r"^(https?|file)://", value.url):
            fail("url", f"expected an http(s):// or file:// URL, {got(shown)}")
        if re.search(r'[\s"\\\x00-\x1f\x7f]', value.url):
            fail("url", f"spaces, quotes, backslashes and control characters must be "
                 f"percent-encoded in a URL, {got(shown)}")
        if value.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(value.sha256)):
            fail("sha256", f"expected 64 hex digits, {got(value.sha256)}")
        check_choice("via", value.via, ("controller", "target"))
        if value.via == "target" and value.sha256 is None:
            fail("sha256", 'via="target" needs sha256=HEX: each target verifies what it '
                 "downloads against it")
        if value.via == "target" and value.url.startswith("file://"):
            fail("url", 'via="target" downloads over http(s); a file:// URL is read by the '
                 "controller (leave via out)")
        return value

    def form(self, value: Any) -> str:
        return "file"

    def warnings(self, value: Any) -> list[str]:
        """What `otter plan` should point out: an unpinned download."""
        if value.sha256 is not None:
            return []
        return [f"fetch({redact(value.url)}) is not pinned: every deploy takes whatever the "
                "URL serves then; give sha256=HEX of the file you tested"]

    handler_at = "otterfile.artifacts.fetch:SOURCE"


class RegistryKind(OnController):
    """registry(ref, username=None, password=None)."""

    name = "registry"

    def check(self, value: Any) -> Any:
        checked_ref("ref", value.ref)
        check_login(value)
        return value

    def form(self, value: Any) -> str:
        return "image"

    def warnings(self, value: Any) -> list[str]:
        try:
            ref = parse_ref(value.ref)
        except BadRef:
            return []
        if ref.tag or ref.digest:
            return []
        return [f"registry({value.ref!r}) names no tag: each deploy runs whatever "
                f"{ref.by_tag} is then; give a tag (or @sha256:...)"]

    handler_at = "otterfile.artifacts.registry:SOURCE"


class ImageKind(OnController):
    """image(ref)."""

    name = "image"

    def check(self, value: Any) -> Any:
        check_str("ref", value.ref)
        if not FULL_ID.fullmatch(value.ref):
            checked_ref("ref", value.ref, "an image name[:tag] or id")
        return value

    def named_image(self, value: Any) -> str | None:
        return None if FULL_ID.fullmatch(value.ref) else target_name(value.ref)

    def form(self, value: Any) -> str:
        return "image"

    handler_at = "otterfile.artifacts.image:SOURCE"


BUILD, FETCH, REGISTRY, IMAGE = BuildKind(), FetchKind(), RegistryKind(), ImageKind()
# the Otterfile value's type -> its kind (artifacts.KINDS: -> its handler)
DECLARED: dict[type, SourceKind] = {model.Build: BUILD, model.Fetch: FETCH,
                                    model.Registry: REGISTRY, model.Image: IMAGE}


def _check_on(value: Any) -> Any:
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

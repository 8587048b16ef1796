"""The artifact source kinds as an Otterfile declares them: each kind's checks of its value
(`build(...)`, `fetch(...)`, `registry(...)`, `image(...)`) and what evaluation asks of it
(its form, its build host); `DECLARED` is the table. Evaluating an Otterfile imports only
this; a kind's handler (its acquire: build.py, fetch.py, registry.py, image.py, and what
they import) loads when the run first asks for it (`handler_at`, artifacts.KINDS).
"""
from __future__ import annotations

import dataclasses
import re
from typing import Any, Protocol, cast

from otterfile.load import model
from otterfile.load.validate import check_choice, check_str, fail, got
from otterfile.secrets import Secret
from otterfile.artifacts.image_ref import BadRef, checked_ref, parse_ref
from otterfile.artifacts.source_checks import (check_login, check_on, check_push, image_tag,
                                               target_name)
from otterfile.artifacts.urls import redact

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
        return check_on(value)

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

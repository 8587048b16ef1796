"""Image references as the engines read them: `HOST[:PORT]/NAME[:TAG][@sha256:HEX]`.

`parse_ref` splits one into a `Ref` (registry host, repository path, tag, digest) or raises
`BadRef` saying what is wrong; `checked_ref` is the same as an Otterfile check (a FieldError
with the field's path). `familiar` spells a repository in full (`nginx` is
`docker.io/library/nginx`), `pinned_name` accepts a recorded `NAME@digest` only for that digest.
Used by `registry(...)` and by `build(push=..., pull_from=...)`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from otterfile.load.validate import fail, got

DOCKER_HUB = "docker.io"
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = re.compile(rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[0-9a-fA-F:]+\])"
                     r"(?::[0-9]{1,5})?")
_PATH_PART = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[\w][\w.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
FORM = "HOST[:PORT]/NAME[:TAG][@sha256:HEX]"


class BadRef(ValueError):
    """Not an image reference; the message says what is wrong."""


@dataclass(frozen=True)
class Ref:
    """An image reference: registry host (None: Docker Hub), repository path, tag, digest."""

    domain: str | None
    path: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """The repository as written: `target1:5000/app`."""
        return f"{self.domain}/{self.path}" if self.domain else self.path

    @property
    def server(self) -> str:
        """Where `login` goes: the registry host, Docker Hub when none is written."""
        return self.domain or DOCKER_HUB

    @property
    def by_tag(self) -> str:
        """What the first target pulls: NAME:TAG (`latest` when no tag is written)."""
        return f"{self.name}:{self.tag or 'latest'}"

    def pinned(self, digest: str) -> str:
        """NAME@sha256:HEX: what every target pulls and runs once the digest is known."""
        return f"{self.name}@{digest}"

    def __str__(self) -> str:
        return self.name + (f":{self.tag}" if self.tag else "") + \
            (f"@{self.digest}" if self.digest else "")


def parse_ref(text: Any, *, what: str = "an image reference") -> Ref:
    """`HOST[:PORT]/NAME[:TAG][@sha256:HEX]` as the engines read it; BadRef says why not."""
    if not isinstance(text, str) or not text:
        raise BadRef(f"expected {what} {FORM}, {got(text)}")
    if "://" in text:
        raise BadRef(f"{text!r}: an image reference has no URL scheme: write it as "
                     f"{FORM} (the engine's own settings say whether a registry speaks HTTP)")
    if re.search(r"[\s\x00-\x1f\x7f\"'\\]", text) or text.startswith("-"):
        raise BadRef(f"{text!r}: spaces, quotes, control characters or a leading '-' cannot "
                     f"be in {what}")
    rest, at, digest = text.partition("@")
    if at and not _DIGEST.fullmatch(digest):
        raise BadRef(f"{text!r}: after '@' expected sha256: and 64 lower-case hex digits")
    slash = rest.rfind("/")
    colon = rest.rfind(":")
    tag = None
    if colon > slash:
        rest, tag = rest[:colon], rest[colon + 1:]
        if not _TAG.fullmatch(tag):
            raise BadRef(f"{text!r}: the tag {tag!r} is not valid (letters, digits, '_', '.', "
                         "'-'; at most 128; not starting with '.' or '-')")
    first, sep, path = rest.partition("/")
    domain = None
    if sep and ("." in first or ":" in first or first == "localhost" or first != first.lower()):
        domain = first
        if not _DOMAIN.fullmatch(domain):
            raise BadRef(f"{text!r}: {domain!r} is not a registry host[:port]")
    else:
        path = rest
    parts = path.split("/")
    for part in parts:
        if not _PATH_PART.fullmatch(part):
            raise BadRef(f"{text!r}: the repository name {path!r} is not valid (lower-case "
                         "letters and digits, separated by '.', '_', '__' or '-', and '/')")
    if len((f"{domain}/" if domain else "") + path) > 255:
        raise BadRef(f"{text!r}: a repository name is at most 255 characters")
    return Ref(domain, path, tag, digest or None)


def familiar(name: str) -> str:
    """A repository name as both engines would print it in full (`nginx` and
    `docker.io/library/nginx` are the same repository)."""
    first, sep, rest = name.partition("/")
    if sep and ("." in first or ":" in first or first == "localhost"):
        domain, path = first, rest
    else:
        domain, path = DOCKER_HUB, name
    if domain in ("index.docker.io", "registry-1.docker.io"):
        domain = DOCKER_HUB
    if domain == DOCKER_HUB and "/" not in path:
        path = f"library/{path}"
    return f"{domain}/{path}"


def pinned_name(image: Any, digest: str) -> str | None:
    """`image` when it is a valid `NAME@digest` for this very digest (a registry release's
    record), else None: a name read from a target's state file is used only so."""
    if not isinstance(image, str) or not image.endswith(f"@{digest}"):
        return None
    try:
        ref = parse_ref(image)
    except BadRef:
        return None
    return image if ref.digest == digest and ref.tag is None else None



def checked_ref(path: str, text: Any, what: str = "an image reference") -> Ref:
    """parse_ref as an Otterfile check: a FieldError at `path`."""
    try:
        return parse_ref(text, what=what)
    except BadRef as error:
        message = str(error)
    fail(path, message)
    raise AssertionError(message)  # fail raised

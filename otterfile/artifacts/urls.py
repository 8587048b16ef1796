"""Passwords in source URLs: a repository or download URL may carry `user:password@`.

`split_credentials` takes them out (git's config and messages see only the clean URL; the
password travels as a Secret) and `redact` shows them as *** in any text; `build(repo=...)`
and `fetch(url)` both use them.
"""
from __future__ import annotations

import re
from urllib.parse import unquote, urlsplit, urlunsplit

from otterfile.secrets import Secret


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

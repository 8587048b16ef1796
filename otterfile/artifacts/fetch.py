"""The `fetch(url, sha256=...)` source: a pre-built file (not deployable by this version)."""
from __future__ import annotations

import re
from typing import Any

from ..errors import OtterError
from ..validate import check_choice, check_str, fail, got
from .base import AcquireContext, Artifact


class Fetch:
    name = "fetch"

    def check(self, value: Any) -> Any:
        check_str("url", value.url)
        if not re.match(r"^(https?|file)://", value.url):
            fail("url", f"expected an http(s):// or file:// URL, {got(value.url)}")
        if value.sha256 is not None and not re.fullmatch(r"[0-9a-fA-F]{64}", str(value.sha256)):
            fail("sha256", f"expected 64 hex digits, {got(value.sha256)}")
        check_choice("via", value.via, ("controller", "target"))
        return value

    def unsupported(self, value: Any) -> str | None:
        return "fetch(...) artifacts cannot be deployed by this version of otter yet"

    def form(self, value: Any) -> str:
        return "file"

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        raise OtterError(self.unsupported(value) or "")

    def warnings(self, value: Any) -> list[str]:
        return [] if value.sha256 else ["unpinned: give sha256= so every run deploys the same "
                                        "bytes"]


SOURCE = Fetch()

"""The `registry(IMAGE_REF)` source: an image the targets pull (not deployable yet)."""
from __future__ import annotations

from typing import Any

from ..errors import OtterError
from ..validate import check_str
from .base import AcquireContext, Artifact


class Registry:
    name = "registry"

    def check(self, value: Any) -> Any:
        check_str("ref", value.ref)
        return value

    def unsupported(self, value: Any) -> str | None:
        return "registry(...) artifacts cannot be deployed by this version of otter yet"

    def form(self, value: Any) -> str:
        return "image"

    def acquire(self, value: Any, ctx: AcquireContext) -> Artifact:
        raise OtterError(self.unsupported(value) or "")

    def warnings(self, value: Any) -> list[str]:
        return []


SOURCE = Registry()

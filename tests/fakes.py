"""Small fakes shared by unit tests."""
from __future__ import annotations

from pathlib import Path


def executable(path: Path, text: str) -> Path:
    """Write a fake tool (a shell script) at `path`, executable; returns the path."""
    path.write_text(text)
    path.chmod(0o755)
    return path

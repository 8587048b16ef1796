"""A PATH for a script under test: this machine's programs, some left out or replaced."""
from __future__ import annotations

import os
from pathlib import Path


def path_without(tmp_path: Path, *hide: str, fakes: dict[str, str] | None = None) -> str:
    """A folder of links to every program on PATH but those in `hide`, with `fakes` (name:
    sh script text) in place of those names (written as files of their own, never through
    a link into the real program)."""
    folder, fakes = tmp_path / "tools", fakes or {}
    folder.mkdir(exist_ok=True)
    for entry in os.environ.get("PATH", os.defpath).split(os.pathsep):
        if not os.path.isdir(entry):
            continue
        for name in os.listdir(entry):
            if name not in hide and name not in fakes and not (folder / name).exists():
                (folder / name).symlink_to(os.path.join(entry, name))
    for name, text in fakes.items():
        (folder / name).write_text("#!/bin/sh\n" + text)
        (folder / name).chmod(0o755)
    return str(folder)

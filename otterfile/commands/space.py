"""Builders that tell where an artifact lands on a target and how much room is there;
read-only, nothing here runs. A runtime's landing command prints `ROLE PATH` lines
(`archive`: where the bytes sent are written, `unpacked`: where they are unpacked);
`free_space` reads them and prints the free space of each path's file system."""
from __future__ import annotations

from otterfile.command import Command, cmd, script
from otterfile.scripts import load

ENGINE_SCRIPT = load("engine-landing.sh")


def engine_landing(engine: str) -> Command:
    """Where a container engine writes an image it loads (ROLE PATH lines)."""
    return script(ENGINE_SCRIPT, args=[engine], description=f"where {engine} loads images")


def paths_landing(archive: str, unpacked: str) -> Command:
    """Fixed places: the file sent lands in `archive`, it is unpacked into `unpacked`."""
    return cmd("printf", "archive %s\\nunpacked %s\\n", archive, unpacked,
               description="where the artifact lands")


def free_space() -> Command:
    """Reads ROLE PATH lines; prints ROLE, KiB free, mount point and PATH (tab-separated)."""
    return script(load("free-space.sh"), description="free space where the artifact lands")


def space_line(landing: Command) -> str:
    """One shell line: the landing's paths piped into `free_space`."""
    return f"{landing.shell_line()} | {free_space().shell_line()}"

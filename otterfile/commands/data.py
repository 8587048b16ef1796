"""Builders for where a release's data lives and how it is held still for a copy
(Snapshots): a container engine's named volumes, a systemd unit's data folder; pausing and
resuming an instance; a command run in a live release. They never run anything."""
from __future__ import annotations

import re
from typing import Sequence

from otterfile import scripts
from otterfile.command import Command, cmd, script

VOLUMES_SCRIPT = scripts.load("snapshot/volumes.sh")
DROP_SCRIPT = scripts.load("snapshot/drop-volumes.sh")
# docker's rule for a volume name; anything else before the first ':' is a host path
_VOLUME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]+")


def named_volumes(volumes: Sequence[str]) -> list[str]:
    """The named volumes among `-v` values (`data:/var/lib/app[:ro]`), in order, once each;
    bind mounts (`/srv/x:/x`, `./x:/x`) and anonymous volumes (`/x`) are not the engine's."""
    names = [v.split(":", 1)[0] for v in volumes if ":" in v]
    return list(dict.fromkeys(n for n in names if _VOLUME.fullmatch(n)))


def volumes_of(deployment: str, volumes: Sequence[str]) -> list[str]:
    """`-v` values with each named volume renamed `DEPLOYMENT_NAME` (compose's way): a
    preview's own volumes; bind mounts and anonymous volumes as they are."""
    out = []
    for volume in volumes:
        name, sep, rest = volume.partition(":")
        out.append(f"{deployment}_{name}{sep}{rest}" if sep and _VOLUME.fullmatch(name)
                   else volume)
    return out


def remove_volumes(engine: str, volumes: Sequence[str]) -> Command:
    """Delete named volumes (none there: nothing to do; one still in use: an error)."""
    return script(DROP_SCRIPT, args=[engine, *volumes],
                  description=f"remove the volumes {', '.join(volumes)}")


def remove_folder(path: str) -> Command:
    """Delete a data folder and what is in it (none: nothing to do)."""
    return script('rm -rf -- "$1"', args=[path], description=f"remove the folder {path}")


def volume_paths(engine: str, volumes: Sequence[str], *, create: bool = False) -> Command:
    """`volume-NAME MOUNTPOINT` per named volume the engine has (`create`: makes a missing
    one first)."""
    return script(VOLUMES_SCRIPT, args=[engine, "1" if create else "0", *volumes],
                  description=f"the {engine} volume{'s' if len(volumes) > 1 else ''} "
                  f"{', '.join(volumes)}")


def folder_path(label: str, path: str, *, create: bool = False) -> Command:
    """`LABEL PATH` for a folder, when it exists (`create`: made first, mode 750)."""
    return script('[ "$3" = 1 ] && mkdir -p -m 750 -- "$2"; '
                  '[ -d "$2" ] && printf "%s %s\\n" "$1" "$2"; exit 0',
                  args=[label, path, "1" if create else "0"], description=f"the folder {path}")


def pause_container(engine: str, name: str) -> Command:
    return cmd(engine, "pause", name, description=f"pause {name}")


def unpause_container(engine: str, name: str) -> Command:
    return cmd(engine, "unpause", name, description=f"resume {name}")


def exec_container(engine: str, name: str, argv: Sequence[str]) -> Command:
    return cmd(engine, "exec", name, *argv, description=f"in {name}: {' '.join(argv)}")


def freeze_unit(unit: str) -> Command:
    """systemd's freezer; where the cgroup has none (cgroup v1), SIGSTOP to every process."""
    return script('systemctl freeze -- "$1" 2>/dev/null || '
                  'systemctl kill --signal=SIGSTOP -- "$1"',
                  args=[unit], description=f"pause {unit}")


def thaw_unit(unit: str) -> Command:
    return script('systemctl thaw -- "$1" 2>/dev/null; systemctl kill --signal=SIGCONT -- "$1"',
                  args=[unit], description=f"resume {unit}")


def exec_unit(argv: Sequence[str], *, user: str, folder: str, env_file: str) -> Command:
    """`argv` as a transient service of the release's user in its folder with its env file,
    waited for, its output passed on; a relative program is in the release folder."""
    program = argv[0]
    if "/" in program and not program.startswith("/"):
        program = f"{folder}/{program.removeprefix('./')}"
    return cmd("systemd-run", "--quiet", "--wait", "--pipe", "--collect", f"--uid={user}",
               "-p", f"WorkingDirectory={folder}", "-p", f"EnvironmentFile=-{env_file}",
               program, *argv[1:], description=f"as {user} in {folder}: {' '.join(argv)}")

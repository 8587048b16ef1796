"""The examples `otter init --example` lists and copies: the folders of `otterfile.examples`
(the project's examples/, installed with the package), each with an Otterfile.py whose
docstring's first line says what it shows."""
from __future__ import annotations

import ast
import fnmatch
import importlib
import os
import shutil
from pathlib import Path

from otterfile.errors import OtterError

SKIP = {"__pycache__", "__init__.py"}
WIDTH = 90  # characters of a description in the list
PRIVATE = ".otter"  # secrets beside an Otterfile: the folder 0700, its files 0600


def folder() -> Path:
    module = importlib.import_module("otterfile.examples")
    return Path(str(module.__file__)).parent


def listed() -> dict[str, str]:
    """Example name -> the first line of its Otterfile's docstring."""
    found = {}
    for otterfile in sorted(folder().glob("*/Otterfile.py")):
        doc = ast.get_docstring(ast.parse(otterfile.read_text())) or ""
        found[otterfile.parent.name] = _sentence(doc)
    return found


def _sentence(doc: str) -> str:
    """The first sentence of a docstring's first paragraph, on one line."""
    paragraph = " ".join(doc.strip().split("\n\n")[0].split())
    end = paragraph.find(". ")
    sentence = paragraph if end < 0 else paragraph[:end + 1]
    return sentence if len(sentence) <= WIDTH else sentence[:WIDTH].rsplit(" ", 1)[0] + " ..."


def files_of(name: str) -> list[Path]:
    """The files of example `name`, relative to its folder; an unknown name is an error
    that lists the known ones."""
    known = listed()
    if name not in known:
        raise OtterError(f"no example {name!r}; the examples: {', '.join(known)}")
    root = folder() / name
    return sorted(p.relative_to(root) for p in root.rglob("*")
                  if p.is_file() and not SKIP & set(p.relative_to(root).parts)
                  and not _ignored(p, root))


def _ignored(path: Path, root: Path) -> bool:
    """Named in a .gitignore of its folder or above (what a build left in a checkout's
    example, such as hello's app/busybox): plain names and globs, no negation."""
    for parent in [path.parent, *path.parent.parents]:
        ignore = parent / ".gitignore"
        if ignore.is_file():
            parts = path.relative_to(parent).parts
            names = [*parts, *("/".join(parts[:n]) for n in range(2, len(parts) + 1))]
            for pattern in ignore.read_text().split("\n"):
                pattern = pattern.strip().strip("/")
                if pattern and not pattern.startswith(("#", "!")) and \
                        any(fnmatch.fnmatch(name, pattern) for name in names):
                    return True
        if parent == root:
            return False
    return False


def copy(name: str, into: Path, force: bool) -> list[Path]:
    """Copy example `name` into `into`; nothing is written when a file exists there already
    (unless `force`). Returns the files written."""
    files = files_of(name)
    existing = [f for f in files if (into / f).exists()]
    if existing and not force:
        raise OtterError(f"{', '.join(str(into / f) for f in existing)} exist"
                         f"{'s' if len(existing) == 1 else ''} (use --force to overwrite)")
    root = folder() / name
    for relative in files:
        destination = into / relative
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / relative, destination)
        shutil.copymode(root / relative, destination)
        if relative.parts[0] == PRIVATE:
            os.chmod(destination.parent, 0o700)
            os.chmod(destination, 0o600)
    return [into / f for f in files]

"""Load an Otterfile: run it in a fresh namespace and collect its marked functions."""
from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from .dsl import Mark, mark_of
from .errors import OtterfileError


@dataclass(frozen=True)
class Marked:
    """One decorated function found in an Otterfile."""

    mark: Mark
    fn: Callable
    line: int


@dataclass(frozen=True)
class Loaded:
    """An Otterfile's marked functions, in the order they appear."""

    file: Path
    functions: tuple[Marked, ...]

    @property
    def folder(self) -> Path:
        return self.file.parent


def load(path: str | Path) -> Loaded:
    """Execute the Otterfile with its folder importable (restored afterwards)."""
    file = Path(path).resolve()
    if not file.is_file():
        raise OtterfileError("no such Otterfile (use -f FILE or `otter init`)", file=str(path))
    source = file.read_text()
    try:
        code = compile(source, str(file), "exec")
    except SyntaxError as error:
        raise OtterfileError(f"syntax error: {error.msg}", file=str(file),
                             line=error.lineno) from error
    namespace = {"__name__": "otterfile_" + file.stem.replace("-", "_"),
                 "__file__": str(file)}
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    sys.path.insert(0, str(file.parent))
    recorder = _Recorder(namespace)
    try:
        exec(code, namespace, recorder)
    except OtterfileError as error:
        raise _located(error, file) from error
    except Exception as error:
        raise OtterfileError(f"{type(error).__name__}: {error}", file=str(file),
                             line=line_in(error, file)) from error
    finally:
        sys.path[:] = saved_path
        _forget_local_modules(saved_modules, file.parent)
    return Loaded(file, tuple(recorder.found))


class _Recorder(dict):
    """The module's locals: records every marked function as it is bound, so a second
    `def a` does not silently replace the first; writes through to the globals."""

    def __init__(self, namespace: dict):
        super().__init__()
        self.namespace, self.found, self._seen = namespace, [], set()

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        self.namespace[key] = value
        mark = mark_of(value)
        if mark is not None and id(value) not in self._seen:
            self._seen.add(id(value))
            self.found.append(Marked(mark, value, getattr(getattr(value, "__code__", None),
                                                          "co_firstlineno", 0)))

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        self.namespace.pop(key, None)


def _forget_local_modules(before: set[str], folder: Path) -> None:
    """Drop modules imported from the Otterfile's folder so a second load sees its own."""
    for name in set(sys.modules) - before:
        origin = getattr(sys.modules[name], "__file__", None) or ""
        if name.split(".")[0] == "otterfile":
            continue
        if origin.startswith(str(folder) + "/") and "site-packages" not in origin:
            del sys.modules[name]


def line_in(error: BaseException, file: Path) -> int | None:
    """The deepest line of `file` in the error's traceback."""
    line = None
    for frame in traceback.extract_tb(error.__traceback__):
        if Path(frame.filename) == file:
            line = frame.lineno
    return line


def _located(error: OtterfileError, file: Path) -> OtterfileError:
    if error.file:
        return error
    return OtterfileError(error.message, file=str(file), line=line_in(error, file),
                          path=error.path)

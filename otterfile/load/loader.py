"""Load an Otterfile: run it in a fresh namespace and collect its marked functions."""
from __future__ import annotations

import functools
import io
import os
import sys
import tokenize
import traceback
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any, Callable, Mapping

from otterfile.load.dsl import Mark, mark_of
from otterfile.errors import Interrupted, OtterfileError


@dataclass(frozen=True)
class Marked:
    """One decorated function found in an Otterfile."""

    mark: Mark
    fn: Callable[..., Any]  # guarded: a sys.exit in it raises OtterfileError
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
    """Execute the Otterfile with its folder importable (restored afterwards).

    The file is read as bytes: UTF-8 (a BOM allowed) or what its PEP 263 coding line says.
    `sys.exit` in it, at load or when a marked function is called, is an OtterfileError.
    """
    file = Path(path).resolve()
    if not file.is_file():
        raise OtterfileError("no such Otterfile (use -f FILE or `otter init`)", file=str(path))
    try:
        code = compile(_read(file), str(file), "exec")
    except (SyntaxError, ValueError) as error:  # older Pythons: ValueError for NUL bytes
        raise OtterfileError(f"syntax error: {getattr(error, 'msg', error)}", file=str(file),
                             line=getattr(error, "lineno", None)) from error
    namespace = {"__name__": "otterfile_" + file.stem.replace("-", "_"),
                 "__file__": str(file)}
    saved_path, saved_modules = list(sys.path), set(sys.modules)
    folders = search_path(file.parent)
    sys.path[0:0] = folders
    recorder = _Recorder(namespace, file)
    try:
        exec(code, namespace, recorder)
    except OtterfileError as error:
        raise _located(error, file) from error
    except SystemExit as error:
        raise _exited(error, file) from error
    except KeyboardInterrupt as error:
        raise interrupted(error, file) from None
    except Exception as error:
        raise OtterfileError(f"{type(error).__name__}: {error}" + recipe_line(error, file),
                             file=str(file), line=line_in(error, file)) from error
    finally:
        sys.path[:] = saved_path
        for folder in folders:
            _forget_local_modules(saved_modules, Path(folder))
    return Loaded(file, tuple(recorder.found))


def _read(file: Path) -> bytes:
    """The file's bytes, once checked to decode as its coding line (or UTF-8) says."""
    try:
        data = file.read_bytes()
    except OSError as error:
        raise OtterfileError(f"cannot read it: {error.strerror}", file=str(file)) from error
    try:
        data.decode(tokenize.detect_encoding(io.BytesIO(data).readline)[0])
    except (SyntaxError, UnicodeDecodeError) as error:
        line = data.count(b"\n", 0, getattr(error, "start", 0)) + 1
        raise OtterfileError(f"not readable as text ({error}): save it as UTF-8 or declare "
                             "its encoding in line 1 or 2 (# -*- coding: latin-1 -*-)",
                             file=str(file), line=line) from error
    return data


def interrupted(error: KeyboardInterrupt, file: Path) -> Interrupted:
    """Ctrl-C while the Otterfile ran (loading it, or calling a marked function): exit 130,
    naming the line it had reached (and the recipe's, when it was in one)."""
    return Interrupted("interrupted (Ctrl-C) while reading the Otterfile"
                       + recipe_line(error, file), file=str(file), line=line_in(error, file))


def _exited(error: SystemExit, file: Path) -> OtterfileError:
    code = "" if error.code is None else repr(error.code)
    return OtterfileError(f"the Otterfile called sys.exit({code})", file=str(file),
                          line=line_in(error, file))


def _guarded(fn: Callable[..., Any], file: Path) -> Callable[..., Any]:
    """`fn`, turning a `sys.exit` in it into an OtterfileError: an Otterfile cannot end otter."""
    @functools.wraps(fn)
    def call(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except SystemExit as error:
            raise _exited(error, file) from error
    return call


class _Recorder(dict[str, Any]):
    """The module's locals: records every marked function as it is bound, so a second
    `def a` does not silently replace the first; writes through to the globals."""

    def __init__(self, namespace: dict[str, Any], file: Path):
        super().__init__()
        self.namespace, self.file = namespace, file
        self.found: list[Marked] = []
        self._seen: set[int] = set()

    def __setitem__(self, key: str, value: Any) -> None:
        super().__setitem__(key, value)
        self.namespace[key] = value
        mark = mark_of(value)
        if mark is not None and id(value) not in self._seen:
            self._seen.add(id(value))
            line = getattr(getattr(value, "__code__", None), "co_firstlineno", 0)
            line = line or _frame_line(self.file)
            self.found.append(Marked(mark, _guarded(value, self.file), line))

    def __delitem__(self, key: str) -> None:
        super().__delitem__(key)
        self.namespace.pop(key, None)


def _frame_line(file: Path) -> int:
    """The line of `file` being executed now (where a marked object without code, such
    as a class, is bound)."""
    frame: FrameType | None = sys._getframe(1)
    while frame is not None and Path(frame.f_code.co_filename) != file:
        frame = frame.f_back
    return frame.f_lineno if frame is not None else 0


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


def recipe_line(error: BaseException, file: Path) -> str:
    """` (raised in recipe FILE:LINE)` when the error comes from a module the Otterfile
    called (a recipe), not from the Otterfile itself nor otter; else ``."""
    own = Path(__file__).resolve().parents[1]  # the otterfile package, not only load/
    deepest = None
    for frame in traceback.extract_tb(error.__traceback__):
        path = Path(frame.filename)
        if path != file and own not in path.parents and frame.filename[:1] != "<":
            deepest = frame
        elif path == file:
            deepest = None
    if deepest is None:
        return ""
    return f" (raised in recipe {deepest.filename}:{deepest.lineno})"


def search_path(folder: Path, environ: Mapping[str, str] | None = None) -> list[str]:
    """Where an Otterfile's imports are looked up first: its folder, then OTTER_PATH's
    folders (a shared recipes checkout), separated by os.pathsep."""
    extra = (os.environ if environ is None else environ).get("OTTER_PATH", "")
    return [str(folder)] + [str(Path(p).expanduser().resolve())
                            for p in extra.split(os.pathsep) if p]


def _located(error: OtterfileError, file: Path) -> OtterfileError:
    if error.file:
        return error
    return OtterfileError(error.message, file=str(file), line=line_in(error, file),
                          path=error.path)

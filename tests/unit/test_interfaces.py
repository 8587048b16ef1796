"""The flow asks each kind (artifact source, runtime, proxy, image store, executor) only what
its interface declares: no `getattr`/`hasattr` capability check goes around an interface.

Every getattr/hasattr call in otterfile/ is listed here with why it is no capability check
of a kind value; a new one fails until it is declared on the interface (or listed, with a
reason). An entry that no longer matches a call fails too, so the list stays short."""
from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "otterfile"

# (module, the object asked, as written) -> why it is no kind value asked around its interface
ALLOWED = {
    # file-like objects and iterators: `close`/`seekable`/`isatty` are optional by Python's own
    # protocols, not otter's kinds
    ("report/reporters.py", "stream"): "a console stream: isatty is optional on file-likes",
    ("transfer/images.py", "self._chunks"): "the SDK's chunk iterator: close is optional",
    ("executors/recording.py", "source"): "an upload source: a path or any file-like",
    # Python's own objects: exceptions, functions, modules
    ("load/loader.py", "error"): "a SyntaxError or UnicodeDecodeError's optional fields",
    ("load/loader.py", "value"): "a marked function's __code__",
    ("load/loader.py", "getattr(value, '__code__', None)"): "a marked function's line",
    ("load/loader.py", "sys.modules[name]"): "a module's __file__",
    ("proxies/nginx_tls.py", "error"): "an OSError's strerror",
    ("load/dsl.py", "obj"): "the decorator's mark on a user function",
    ("load/evaluate.py", "value"): "a user's Deployment(...) or function: its optional name",
    ("load/refs.py", "name"): "a function given as a name",
    # reading our own dataclasses field by field (reflection, not a capability)
    ("plan/describe.py", "source"): "every field of a source value, for the secrets it holds",
    ("plan/describe.py", "value"): "every field of a runtime value, for `plan --json`",
    ("plan/describe.py", "command.stdin"): "a Command's stdin: text or SecretText (masked)",
    ("run/deploy.py", "source"): "every field of a source value, for the secrets it holds",
    ("run/steps.py", "self"): "ctx's own placeholder attributes, by name",
    ("executors/base.py", "self"): "Result's own stdout/stderr, by name",
    ("executors/recording.py", "result"): "Result's own stdout/stderr, by name",
    ("artifacts/kinds.py", "value"): "the build kind's own string fields, in the module "
                                     "declaring them",
    ("artifacts/source_checks.py", "value"): "a registry login's own fields (push= or a "
                                             "registry's), beside the kinds declaring them",
    # values that are not one of the five kinds
}


def calls() -> dict[tuple[str, str], list[str]]:
    """(module, the object asked) -> where each getattr/hasattr call on it is."""
    found: dict[tuple[str, str], list[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = path.relative_to(PACKAGE).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) \
                    and node.func.id in ("getattr", "hasattr") and node.args:
                key = (module, ast.unparse(node.args[0]))
                found.setdefault(key, []).append(f"{module}:{node.lineno} "
                                                 f"{ast.unparse(node)}")
    return found


def test_no_kind_value_is_asked_what_its_interface_does_not_declare():
    unlisted = [line for key, lines in calls().items() if key not in ALLOWED for line in lines]
    assert not unlisted, "declare these on the kind's interface (or list them with why):\n" \
        + "\n".join(unlisted)


def test_every_allowed_call_is_still_there():
    assert not set(ALLOWED) - set(calls()), "remove these from ALLOWED"


def test_the_scan_finds_a_capability_check(tmp_path, monkeypatch):
    (tmp_path / "flow.py").write_text('engine = getattr(runtime, "engine", None)\n')
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path)
    assert calls() == {("flow.py", "runtime"): ["flow.py:1 getattr(runtime, 'engine', None)"]}

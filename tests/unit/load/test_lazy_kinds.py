"""Evaluating an Otterfile imports each kind's declaration (artifacts/, runtimes/, proxies/
kinds.py), never its handler, nor jinja2, httpx, rich or the Docker SDK: the commands that
run often and briefly (`otter exec`, `status`, `rollback`) pay for what they use. Every
declaration's handler is its own kind (load/registry.py's tables)."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from otterfile import artifacts, proxies, runtimes
from otterfile.load.registry import Handlers

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
OTTERFILES = sorted(ROOT.glob("examples/*/Otterfile.py")) + [
    ROOT / "otterfile" / "templates" / "Otterfile.py.sample"]
# what evaluating may import of the kinds' packages: the tables, the declarations and the
# small value modules they check with
DECLARING = {"otterfile.artifacts", "otterfile.artifacts.kinds", "otterfile.artifacts.image_ref",
             "otterfile.artifacts.source_checks",
             "otterfile.artifacts.urls", "otterfile.runtimes", "otterfile.runtimes.kinds",
             "otterfile.proxies", "otterfile.proxies.kinds", "otterfile.proxies.nginx_tls"}
KIND_PACKAGES = ("otterfile.artifacts.", "otterfile.runtimes.", "otterfile.proxies.")
# never before a command asks: the engine, commands, transfer, reports, third-party libraries
NEVER = ("otterfile.run.engine", "otterfile.run.stages", "otterfile.commands",
         "otterfile.transfer", "otterfile.executors", "otterfile.report", "otterfile.render",
         "jinja2", "httpx", "rich", "docker", "tarfile")


def imported(code: str, cwd: Path = ROOT) -> list[str]:
    """The modules `code` imports in a fresh interpreter (those before it excluded)."""
    probe = ("import json, sys\nbefore = set(sys.modules)\n" + code +
             "\nprint(json.dumps(sorted(set(sys.modules) - before)))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                          timeout=60, cwd=cwd, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin"})
    assert done.returncode == 0, done.stderr
    return list(json.loads(done.stdout.splitlines()[-1]))


def unwanted(modules: list[str]) -> list[str]:
    handlers = [m for m in modules if m.startswith(KIND_PACKAGES) and m not in DECLARING]
    return handlers + [m for m in modules if m.split(".")[0] in NEVER or
                       any(m == n or m.startswith(n + ".") for n in NEVER)]


@pytest.mark.parametrize("otterfile", OTTERFILES, ids=lambda p: p.parent.name
                         if p.name == "Otterfile.py" else p.name)
def test_evaluating_an_otterfile_imports_no_handler(otterfile):
    modules = imported("from otterfile.load.evaluate import evaluate\n"
                       "from otterfile.load.loader import load\n"
                       f"project = evaluate(load({str(otterfile)!r}))\n"
                       "assert project.deployments", cwd=otterfile.parent)
    assert "otterfile.load.model" in modules and "otterfile.runtimes.kinds" in modules
    assert not unwanted(modules), unwanted(modules)


def test_the_probe_sees_a_handler_when_one_is_asked_for():
    """The test above can fail: asking a deployment for its runtime imports the handler."""
    sample = OTTERFILES[-1]
    modules = imported("from otterfile.load.evaluate import evaluate\n"
                       "from otterfile.load.loader import load\n"
                       f"project = evaluate(load({str(sample)!r}))\n"
                       "project.deployments['production'].runtime.kind.listing('x')")
    assert "otterfile.runtimes.container" in unwanted(modules)


@pytest.mark.parametrize("command", [["exec", "production", "--", "true"],
                                     ["status", "production"], ["rollback", "production"]])
def test_a_command_reaches_its_first_connection_without_the_artifacts_handlers(command):
    """Up to where it would first reach a host (a Unix socket's connect, an ssh process:
    the process ends there), no source handler, no transfer, no jinja2/httpx/rich."""
    cut = ("import os, socket, subprocess, runpy, json\n"
           "def stop(*a, **k):\n"
           "    print(json.dumps(sorted(set(sys.modules) - before)), flush=True)\n"
           "    os._exit(0)\n"
           "connect = socket.socket.connect\n"
           "def unix(self, *a):\n"
           "    if self.family == socket.AF_UNIX and 'docker' not in str(a[:1]):\n"
           "        stop()\n"
           "    return connect(self, *a)\n"
           "socket.socket.connect = socket.socket.connect_ex = unix\n"
           "popen = subprocess.Popen.__init__\n"
           "def spawn(self, args, *a, **k):\n"
           "    if isinstance(args, (list, tuple)) and os.path.basename(str(args[0])) == 'ssh':\n"
           "        stop()\n"
           "    return popen(self, args, *a, **k)\n"
           "subprocess.Popen.__init__ = spawn\n"
           f"sys.argv = ['otter', '-f', {str(OTTERFILES[-1])!r}, *{command!r}]\n"
           "runpy.run_module('otterfile', run_name='__main__')\n")
    modules = imported(cut)
    assert "otterfile.load.evaluate" in modules  # it got as far as the Otterfile
    sources = [m for m in modules if m.startswith("otterfile.artifacts.") and m not in DECLARING
               and m not in ("otterfile.artifacts.base", "otterfile.artifacts.archive",
                             "otterfile.artifacts.cache_lock")]
    assert not sources, sources
    heavy = [m for m in modules if m.split(".")[0] in ("jinja2", "httpx", "rich", "docker",
                                                       "tarfile")
             or m.startswith("otterfile.transfer.") and m not in (
                 "otterfile.transfer.images", "otterfile.transfer.remote_images")]
    assert not heavy, heavy
    if command[0] == "exec":  # it runs a command line: no kind's handler at all
        assert not unwanted([m for m in modules if m.startswith(KIND_PACKAGES)])


@pytest.mark.parametrize("package", [artifacts, runtimes, proxies], ids=lambda p: p.__name__)
def test_every_declaration_has_its_own_handler(package):
    for value_type, declared in package.DECLARED.items():
        handler = package.KINDS.of(declared)
        assert handler.name == declared.name and isinstance(handler, type(declared))
        assert package.KINDS.of(handler) is handler  # a handler is its own kind's
        assert package.KINDS[value_type] is handler
        if hasattr(package, "NAMED"):
            assert package.NAMED[declared.name] is handler
    assert list(package.KINDS) == list(package.DECLARED)


def test_a_table_imports_a_handler_only_when_it_is_looked_up():
    modules = imported("from otterfile.runtimes import KINDS, NAMED\n"
                       "assert sorted(NAMED) == ['docker', 'podman', 'systemd']\n"
                       "assert 'systemd' in NAMED and len(KINDS) == 3\n"
                       "NAMED['systemd']")
    assert "otterfile.runtimes.systemd" in modules
    assert "otterfile.runtimes.container" not in modules


FIRST, SECOND = object(), object()  # what the table below names, by "MODULE:NAME"


def test_handlers_is_a_read_only_mapping():
    from types import SimpleNamespace
    table = Handlers({"a": SimpleNamespace(handler_at=f"{__name__}:FIRST"),
                      "b": SimpleNamespace(handler_at=f"{__name__}:SECOND")})
    assert list(table) == ["a", "b"] and len(table) == 2 and "a" in table
    assert table["a"] is FIRST and table["b"] is SECOND and table.get("c") is None
    assert table.of(SimpleNamespace(handler_at=f"{__name__}:SECOND")) is SECOND
    with pytest.raises(KeyError):
        table["c"]

"""Every entry of each kind table keeps its interface, and every declared kind plans.

A new artifact source, runtime or proxy is one module and one table row; these tests run
over the tables, so a new row is checked without a new test."""
from __future__ import annotations

import inspect

import pytest
from click.testing import CliRunner

from otterfile import artifacts, proxies, runtimes

from otterfile.load import model
from otterfile.artifacts.image import Image
from otterfile.artifacts.base import ArtifactSource
from otterfile.cli import main
from otterfile.proxies.base import Proxy
from otterfile.runtimes.base import Runtime

pytestmark = pytest.mark.unit

TABLES = [(artifacts.KINDS, ArtifactSource), (runtimes.KINDS, Runtime),
          (proxies.KINDS, Proxy)]
# One Otterfile value of each kind the contract declares, as a user writes it.
SOURCES = {model.Build: 'build(path=".", command="docker build -t app .")',
           model.Fetch: 'fetch("https://example.test/app.tar.gz", sha256="' + "a" * 64 + '")',
           model.Registry: 'registry("registry.example.test/app:1")',
           Image: 'image("app:1")'}
RUNTIMES = {model.Docker: "docker(port=8080)", model.Podman: "podman(port=8080)",
            model.Systemd: 'systemd(command="./app --port {port}", port=8080)'}
PROXIES = {model.Caddy: "caddy()", model.Nginx: "nginx()"}
DECLARED = [(SOURCES, artifacts.KINDS), (RUNTIMES, runtimes.KINDS), (PROXIES, proxies.KINDS)]


def protocol_methods(protocol) -> set[str]:
    return {name for name, value in vars(protocol).items()
            if callable(value) and not name.startswith("_")}


def implements(kind, protocol) -> None:
    """`kind` has every method `protocol` declares, with the same parameters, and every
    attribute it declares."""
    missing = protocol_methods(protocol) - {n for n in dir(kind) if not n.startswith("_")}
    assert not missing, f"{type(kind).__name__} lacks {sorted(missing)}"
    for name in protocol_methods(protocol):
        wanted = list(inspect.signature(getattr(protocol, name)).parameters)[1:]
        got = list(inspect.signature(getattr(kind, name)).parameters)
        assert got == wanted, f"{type(kind).__name__}.{name}{got} != {wanted}"
    for name in getattr(protocol, "__annotations__", {}):
        assert hasattr(kind, name), f"{type(kind).__name__} lacks the attribute {name}"


@pytest.mark.parametrize("table,protocol", TABLES)
def test_each_kind_implements_its_interface(table, protocol):
    for kind in table.values():  # every row, supported or not
        implements(kind, protocol)


def image_stores():
    from otterfile.transfer.fanout import SharedImages
    from otterfile.transfer.images import DockerImages, PlannedImages
    from otterfile.transfer.remote_images import RemoteImages
    from otterfile.executors.recording import RecordingExecutor
    return [DockerImages(), PlannedImages(), RemoteImages(RecordingExecutor()),
            SharedImages(PlannedImages())]


def executors():
    from otterfile.executors.local import LocalExecutor
    from otterfile.executors.planned import PlannedExecutor
    from otterfile.executors.recording import RecordingExecutor
    from otterfile.executors.ssh import SSHExecutor
    from otterfile.executors.traced import TracedExecutor
    from otterfile.hosts import SSHHost
    made = [LocalExecutor(), RecordingExecutor(), SSHExecutor(SSHHost("web1"))]
    return made + [PlannedExecutor(SSHHost("web1")),
                   TracedExecutor(made[0], lambda host, text: None)]


@pytest.mark.parametrize("store", image_stores(), ids=lambda s: type(s).__name__)
def test_every_image_store_implements_its_interface(store):
    from otterfile.artifacts.base import ImageStore
    implements(store, ImageStore)


@pytest.mark.parametrize("executor", executors(), ids=lambda e: type(e).__name__)
def test_every_executor_implements_its_interface(executor):
    from otterfile.executors.base import Executor
    try:
        implements(executor, Executor)
    finally:
        executor.close()


@pytest.mark.parametrize("table,protocol", TABLES)
def test_each_kind_checks_and_names_itself(table, protocol):
    for value_type, kind in table.items():
        value = _sample(value_type)
        assert kind.check(value) == value
        assert isinstance(kind.name, str) and kind.name
        reason = kind.unsupported(value)
        assert reason is None or isinstance(reason, str)


def test_every_declared_kind_has_one_table_row():
    for declared, table in DECLARED:
        assert set(declared) == set(table)


def test_no_handler_shares_a_name_with_the_dsl_value_it_handles():
    for _, table in DECLARED:
        for value_type, kind in table.items():
            assert type(kind).__name__ != value_type.__name__, type(kind)


def _sample(value_type):
    import otterfile
    namespace = {name: getattr(otterfile, name) for name in otterfile.__all__}  # as `import *`
    for declared, _ in DECLARED:
        if value_type in declared:
            return eval(declared[value_type], namespace)
    raise KeyError(value_type)


OTTERFILE = '''from otterfile import *

@deployment
def production():
    return Deployment(artifact={source}, runtime={runtime}, targets=[ssh("root@web1")],
                      domains=["app.test"], proxy={proxy})
'''
COMBINATIONS = [(s, r, p) for s in SOURCES.values() for r in RUNTIMES.values()
                for p in PROXIES.values()]


@pytest.mark.parametrize("source,runtime,proxy", COMBINATIONS)
def test_plan_graph_and_list_work_for_every_declared_kind(tmp_path, source, runtime, proxy):
    file = tmp_path / "Otterfile.py"
    file.write_text(OTTERFILE.format(source=source, runtime=runtime, proxy=proxy))
    runner = CliRunner()
    for args in (["graph", "production"], ["list"]):
        result = runner.invoke(main, ["-f", str(file), *args])
        assert result.exit_code == 0, (args, result.output, result.exception)
    planned = runner.invoke(main, ["-f", str(file), "plan", "production"])
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    if evaluate(load(file)).deployments["production"].unsupported is not None:
        assert planned.exit_code == 2, planned.output  # refused as `run` refuses it
        assert f"{file}:3: deployment production/" in planned.output
        return
    assert planned.exit_code == 0, (planned.output, planned.exception)
    assert "web1 (production):" in planned.output and "retire" in planned.output


# What this version refuses to deploy: the systemd runtime runs files, not images.
IMAGE_SOURCES = tuple(SOURCES[t] for t in (model.Build, model.Registry, Image))
REFUSED = [(s, RUNTIMES[model.Systemd], p) for s in IMAGE_SOURCES for p in PROXIES.values()]
DEPLOYABLE = [c for c in COMBINATIONS if c not in REFUSED]


def _deployment(tmp_path, source, runtime, proxy):
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    file = tmp_path / "Otterfile.py"
    file.write_text(OTTERFILE.format(source=source, runtime=runtime, proxy=proxy))
    return file, evaluate(load(file)).deployments["production"]


@pytest.mark.parametrize("source,runtime,proxy", DEPLOYABLE)
def test_every_other_combination_is_deployable(tmp_path, source, runtime, proxy):
    # offline: whether `run` goes ahead is decided here; the flow and integration tests run it
    _, dep = _deployment(tmp_path, source, runtime, proxy)
    assert dep.unsupported is None


@pytest.mark.parametrize("source,runtime,proxy", REFUSED)
def test_run_refuses_what_cannot_be_deployed_yet_before_anything_runs(tmp_path, source,
                                                                      runtime, proxy):
    file, dep = _deployment(tmp_path, source, runtime, proxy)
    assert dep.unsupported is not None
    result = CliRunner().invoke(main, ["-f", str(file), "run", "production"])
    assert result.exit_code == 2, result.output
    assert f"{file}:3: deployment production/runtime: the systemd runtime cannot run an " \
        "image artifact" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / ".otter").exists()  # nothing built, no cache made


@pytest.mark.parametrize("module", ["otterfile.commands.container", "otterfile.commands.systemd",
                                    "otterfile.commands.state", "otterfile.runtimes",
                                    "otterfile.proxies", "otterfile.artifacts",
                                    "otterfile.run.flow", "otterfile.cli"])
def test_every_module_imports_first_without_a_circle(module):
    import subprocess
    import sys
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stderr

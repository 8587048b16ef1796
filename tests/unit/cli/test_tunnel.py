"""`otter tunnel`: which host it reaches (the first, or --target by name or address; an
unknown one lists the known ones, before any connection), how the mapping reads, and the
local target end to end: its own port, no forward, ended by Ctrl-C or SIGTERM."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.cli.tunnel import mapping, pick
from otterfile.errors import UsageError
from otterfile.executors.ssh import free_port
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]

FILE = '''
from otterfile import *

@artifact
def web():
    return registry("app:1")

@runtime
def box():
    return docker(port=8080)

@target("web-1")
def one():
    return ssh("deploy@web-1.example")

@target
def rest():
    return [ssh("deploy@10.0.0.2:2222"), ssh("deploy@10.0.0.3", name="web-3")]

@target
def here():
    return local()

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=["web-1", rest])

@deployment
def dev():
    return Deployment(artifact=web, runtime=box, targets=[here])

@deployment("pair")
def pair():
    return [Deployment(artifact=web, runtime=docker(port=8081), targets=["web-1"], name="a"),
            Deployment(artifact=web, runtime=docker(port=8082), targets=["web-1"], name="b")]
'''


@pytest.fixture
def project(otterfile):
    return evaluate(load(str(otterfile(FILE))))


def test_the_first_target_by_default(project):
    dep, host = pick(project, "production", None)
    assert (dep.name, host.name) == ("production", "web-1")


@pytest.mark.parametrize("given, name", [("web-3", "web-3"), ("rest", "10.0.0.2:2222"),
                                          ("deploy@10.0.0.2:2222", "10.0.0.2:2222"),
                                          ("10.0.0.3", "web-3"), ("web-1", "web-1")])
def test_target_by_host_name_target_name_or_address(project, given, name):
    assert pick(project, "production", given)[1].name == name


def test_an_unknown_target_lists_the_known_ones(project):
    with pytest.raises(UsageError) as error:
        pick(project, "production", "web-9")
    assert str(error.value) == ("deployment production has no target 'web-9'; its targets: "
                                "web-1, 10.0.0.2:2222, web-3, rest")


def test_a_group_of_deployments_is_refused(project):
    with pytest.raises(UsageError, match=r"pair is a group of deployments \(a, b\)"):
        pick(project, "pair", None)


def test_the_mapping_reads_local_to_host_port(project):
    assert mapping(pick(project, "production", None)[1], 54321, 5432) == \
        "127.0.0.1:54321 -> web-1:5432"


@pytest.mark.parametrize("args, said", [
    (["production", "5432", "--target", "nope"], "has no target 'nope'"),
    (["staging", "5432"], "unknown deployment 'staging'"),
    (["production", "0"], "0 is not in the range"),
    (["production", "80", "--local", "70000"], "70000 is not in the range"),
    (["dev", "5432", "--local", "5433"], "here is this machine"),
])
def test_bad_input_exits_2_before_any_connection(otterfile, args, said):
    result = CliRunner().invoke(main, ["-f", str(otterfile(FILE)), "tunnel", *args])
    assert result.exit_code == 2, result.output
    assert said in result.output


def start(path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get(
        "PYTHONPATH", "")])}
    return subprocess.Popen([sys.executable, "-m", "otterfile", "-f", str(path), *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


@pytest.mark.parametrize("ending", [signal.SIGINT, signal.SIGTERM])
def test_the_local_target_needs_no_forward_and_ends_cleanly(otterfile, ending):
    port = free_port()
    process = start(otterfile(FILE), "tunnel", "dev", str(port))
    assert process.stdout is not None
    line = process.stdout.readline()
    process.send_signal(ending)
    out, err = process.communicate(timeout=30)
    assert line == f"127.0.0.1:{port} -> here:{port} (this machine: no forward needed)\n"
    assert process.returncode == 0, err
    assert err.splitlines()[-1] == "tunnel closed"


def test_json_is_one_event(otterfile):
    port = free_port()
    process = start(otterfile(FILE), "--json", "tunnel", "dev", str(port), "--local",
                    str(port))
    assert process.stdout is not None
    line = process.stdout.readline()
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert json.loads(line) == {"v": 1, "event": "tunnel", "deployment": "dev", "host": "here",
                                "address": "local", "local": f"127.0.0.1:{port}",
                                "local_port": port, "remote_port": port, "forwarded": False}
    assert (out, process.returncode) == ("", 0), err

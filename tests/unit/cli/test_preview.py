"""`otter run --preview`, `otter remove --preview`: bad input exits 2 before any host is
reached (a label, --ttl, --env, a deployment without preview_domain, flags that go with
--preview only)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from otterfile.cli import main

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=registry("app:1"), runtime=docker(port=8080),
                      targets=[ssh("root@web-1.invalid")], domains=["app.example.com"],
                      preview_domain="{label}.preview.example.com")

@deployment
def plain():
    return Deployment(artifact=registry("app:1"), runtime=docker(port=8081),
                      targets=[ssh("root@web-1.invalid")], domains=["plain.example.com"])
'''


@pytest.mark.parametrize("args, said", [
    (["run", "production", "--preview", "PR-1"], "preview label 'PR-1'"),
    (["run", "production", "--preview", "pr-1", "--ttl", "1w"], "--ttl '1w'"),
    (["run", "production", "--preview", "pr-1", "--env", "NOPE"], "--env 'NOPE'"),
    (["run", "production", "--env", "A=1"], "--env and --ttl go with --preview"),
    (["run", "production", "--ttl", "1h"], "--env and --ttl go with --preview"),
    (["run", "production", "--preview", "pr-1", "--dry-run"], "not with --dry-run"),
    (["run", "plain", "--preview", "pr-1"], "deployment plain has no preview_domain"),
    (["remove", "production", "--preview", "a--b", "--yes"], "preview label 'a--b'"),
    (["remove", "plain", "--preview", "pr-1", "--yes"], "has no preview_domain"),
])
def test_bad_input_exits_2_before_any_host(otterfile, args, said):
    result = CliRunner().invoke(main, ["-f", str(otterfile(FILE)), *args])
    assert result.exit_code == 2, result.output
    assert said in result.output


def test_a_preview_may_not_take_a_declared_name_or_domain(otterfile):
    taken = FILE + '''
@deployment("production--pr-1")
def clash():
    return Deployment(artifact=registry("app:1"), runtime=docker(port=8082),
                      targets=[ssh("root@web-1.invalid")], domains=["pr-2.preview.example.com"])
'''
    for label in ("pr-1", "pr-2"):
        result = CliRunner().invoke(main, ["-f", str(otterfile(taken)), "run", "production",
                                           "--preview", label])
        assert result.exit_code == 2, result.output
        assert "already has the name production--" in result.output

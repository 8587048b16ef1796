"""Build once: however many deployments and targets use an artifact, a run acquires it once."""
from __future__ import annotations

import json

from click.testing import CliRunner

from otterfile.cli import main

OTTERFILE = '''
from otterfile import *

@artifact
def web():
    return build(path=".", command="echo built >> count.txt && docker build -q -t app:1 .")

@target
def servers():
    return [ssh("root@10.0.0.1"), ssh("root@10.0.0.2"), ssh("root@10.0.0.3")]

@deployment
def stack():
    return [Deployment(name=name, artifact=web, runtime=docker(port=port), targets=[servers],
                       domains=[name + ".test"]) for name, port in (("a", 8080), ("b", 8081))]
'''


def test_two_deployments_on_three_targets_acquire_the_artifact_once(tmp_path):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    result = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "--json", "run",
                                       "stack", "--dry-run"], env={})
    assert result.exit_code == 0, result.output
    events = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    builds = [e for e in events if "count.txt" in e.get("message", "")]
    assert len(builds) == 1, builds
    acquires = [e for e in events if e.get("event") == "start" and e.get("stage") == "acquire"]
    assert len(acquires) == 1, acquires
    starts = {(e["host"], e["deployment"]) for e in events
              if e.get("event") == "start" and e.get("stage") == "start"}
    assert len(starts) == 6, starts  # while every deployment starts on every target

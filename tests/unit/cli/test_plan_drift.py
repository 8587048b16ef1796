"""`otter plan NAME --check --exit-code`: the exit status a CI job reads (0 in sync, 1 a run
would change something, 2 an error of any kind), the text and JSON of each target's drift,
and the command line around it."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from otterfile.cli import main, plan_check
from otterfile.cli.plan_drift import drift_record, drift_text, exit_code, summary_record
from otterfile.errors import OtterError
from otterfile.run.check_judge import Move, TargetCheck
from otterfile.run.drift import Drift, FileDiff
from tests.unit.cli.test_cli import FILE

pytestmark = pytest.mark.unit

DIFF = "--- web1:/site\n+++ Otterfile\n@@ -1 +1 @@\n-a.test, \x1b[31mred {\n+a.test {\n"


def one(host: str, drift: Drift | None = Drift(), error: str | None = None) -> TargetCheck:
    if error:
        return TargetCheck(host, f"root@{host}", error=error)
    return TargetCheck(host, f"root@{host}", "production", "web", "sha256:ab", Move("none", 0),
                       "none", "R0", "unchanged", "/site", drift=drift)


CHANGED = Drift(("proxy site /site: differs from what otter generates",),
                (FileDiff("/site", "site", DIFF),))


def test_the_exit_status_is_0_in_sync_1_drift_2_error():
    assert exit_code([one("web1"), one("web2")]) == 0
    assert exit_code([one("web1"), one("web2", CHANGED)]) == 1
    assert exit_code([one("web1", CHANGED), one("web2", error="web2: cannot connect")]) == 2
    assert exit_code([one("web1", error="web1: cannot tell")]) == 2
    assert exit_code([]) == 2  # nothing was asked: nothing is known to be in sync
    assert exit_code([one("web1", None)]) == 1  # no drift judged: never called in sync


def test_the_text_says_each_target_then_the_changes_and_diffs_made_printable():
    text = drift_text([one("web1", CHANGED), one("web2"), one("web3", error="web3: down")])
    lines = text.splitlines()
    assert lines[1:4] == ["web1 (production): a run would change it",
                          "  - proxy site /site: differs from what otter generates",
                          "    --- web1:/site"]
    assert "    -a.test, red {" in lines  # the escape sequence from the target is dropped
    assert "web2 (production): in sync" in lines and "web3: error (see below)" in lines
    assert lines[-1] == "drift: 1 of 3 would change, 1 could not be read (exit 2)"
    assert drift_text([one("web1")]).splitlines()[-1] == \
        "in sync: every target runs what the Otterfile declares (exit 0)"


def test_the_json_fields_and_the_summary():
    assert drift_record(one("web1", CHANGED)) == {
        "in_sync": False, "changes": list(CHANGED.changes),
        "diffs": [{"path": "/site", "kind": "site", "diff": DIFF}]}
    assert drift_record(one("web2", error="web2: down")) == {}
    found = [one("web1", CHANGED), one("web2"), one("web3", error="web3: down")]
    assert summary_record(found, 2) == {"event": "drift", "in_sync": 1, "changed": 1,
                                        "errors": 1, "exit": 2}


def invoke(path, *args, env=None):
    return CliRunner().invoke(main, ["-f", str(path), *args], env=env or {})


def test_exit_code_without_check_is_a_usage_error(otterfile):
    result = invoke(otterfile(FILE), "plan", "production", "--exit-code")
    assert result.exit_code == 2
    assert "--exit-code goes with --check" in result.output


def test_a_bad_otterfile_is_2(otterfile):
    result = invoke(otterfile(FILE + "\nDeployment(\n"), "plan", "production", "--check",
                    "--exit-code")
    assert result.exit_code == 2


def test_any_failure_on_the_way_is_2_not_1(otterfile, monkeypatch):
    def fails(*args, **kwargs):
        raise OtterError("building web failed: exit 1")
    monkeypatch.setattr(plan_check, "plan_check", fails)
    result = invoke(otterfile(FILE), "--json", "plan", "production", "--check", "--exit-code",
                    env={"DB_PASSWORD": "hunter2"})
    assert result.exit_code == 2
    record = json.loads(result.output.splitlines()[0])
    assert record["event"] == "error" and record["exit"] == 2
    assert "building web failed" in record["message"]

    def crashes(*args, **kwargs):
        raise KeyError("oops")
    monkeypatch.setattr(plan_check, "plan_check", crashes)
    result = invoke(otterfile(FILE), "plan", "production", "--check", "--exit-code",
                    env={"DB_PASSWORD": "hunter2"})
    assert result.exit_code == 2 and "KeyError" in result.output

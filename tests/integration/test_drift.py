"""`otter plan production --check --exit-code` (the drift gate) on the test hosts: 1 before
the first deploy (no release state), 0 once deployed; a proxy site edited by hand on one
target is 1 with its diff, the other target still in sync; a changed env in the Otterfile is 1
with the env file's diff (the secret masked); a stopped instance is 1; a host that does not
answer is 2 and named. A systemd deployment's unit compares equal as installed, and a unit
edited by hand is 1. Nothing is written on a target by the gate (snapshots before and after)."""
from __future__ import annotations

from dataclasses import replace

import pytest

from tests.integration.deploy import events, on, otter, write_app, write_otterfile
from tests.integration.test_kinds_deploy import kind  # noqa: F401  (a fixture)
from tests.integration.test_plan_check import snapshot

pytestmark = pytest.mark.integration

SECRET = "s3cret-token-value"  # tests/integration/deploy.py's APP_TOKEN


def gate(project, *args: str):
    """(exit status, the check objects by host, the summary, stdout + stderr) of --json."""
    done = otter(project, "--json", "plan", "production", "--check", "--exit-code", *args)
    found = events(done.stdout)
    assert SECRET not in done.stdout + done.stderr
    checks = {one["host"]: one for one in found if one["event"] == "check"}
    summary = [one for one in found if one["event"] == "drift"]
    return done.returncode, checks, summary[-1] if summary else None, done.stdout + done.stderr


def gate_text(project):
    done = otter(project, "plan", "production", "--check", "--exit-code")
    assert SECRET not in done.stdout + done.stderr
    return done.returncode, done.stdout, done.stderr


def test_in_sync_hand_edited_site_env_change_and_stopped_instance(tmp_path, two):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, two)
    a, b = (t.host.name for t in two)

    code, found, summary, said = gate(tmp_path)
    assert code == 1, said  # nothing deployed yet: no release state
    assert all("no release state on the target" in " ".join(f["changes"]) for f in found.values())
    assert otter(tmp_path, "run", "production").returncode == 0

    before = [snapshot(t) for t in two]
    code, found, summary, said = gate(tmp_path)
    assert code == 0, said
    assert [f["in_sync"] for f in found.values()] == [True, True]
    assert [f["release"]["action"] for f in found.values()] == ["none", "none"]
    assert summary == {"v": 1, "event": "drift", "in_sync": 2, "changed": 0, "errors": 0,
                       "exit": 0}
    code, out, err = gate_text(tmp_path)
    assert code == 0 and "in sync: every target runs what the Otterfile declares" in out, err

    site = found[a]["proxy"]["path"]
    original = on(two[0], "cat", site).stdout
    edited = "header X-Hand-Edit yes\n" + original
    assert edited != original
    assert on(two[0], "sh", "-c", 'printf %s "$1" > "$2"', "sh", edited, site).ok
    code, found, summary, said = gate(tmp_path)
    assert code == 1, said
    assert found[b]["in_sync"] and not found[a]["in_sync"]
    (diff,) = found[a]["diffs"]
    assert diff["kind"] == "site" and diff["path"] == site
    assert [line for line in diff["diff"].splitlines()[2:] if line[0] in "+-"] == [
        "-header X-Hand-Edit yes"], diff["diff"]
    assert found[a]["changes"] == [f"proxy site {site}: differs from what otter generates "
                                   "(a run that starts no release leaves it so)"]
    code, out, err = gate_text(tmp_path)
    assert code == 1 and "    -header X-Hand-Edit yes" in out and f"{a} (production): a run " \
        "would change it" in out and f"{b} (production): in sync" in out, out + err
    assert on(two[0], "sh", "-c", 'printf %s "$1" > "$2"', "sh", original, site).ok

    write_otterfile(tmp_path, two)
    (tmp_path / "Otterfile.py").write_text((tmp_path / "Otterfile.py").read_text().replace(
        '"GREETING": "hello"', '"GREETING": "bonjour"'))
    code, found, summary, said = gate(tmp_path)
    assert code == 1, said
    for one in found.values():
        assert not one["in_sync"]
        assert any(c.startswith("release: a new release starts beside") and
                   "its env, runtime settings or proxy changed" in c for c in one["changes"])
        (env,) = [d for d in one["diffs"] if d["kind"] == "env"]
        lines = env["diff"].splitlines()
        assert "-GREETING=hello" in lines and "+GREETING=bonjour" in lines
        assert " APP_TOKEN=***" in lines  # the same secret: masked, unchanged
    assert summary["changed"] == 2 and summary["exit"] == 1

    write_otterfile(tmp_path, two)  # back to what runs; then one instance stops
    live = found[a]["release"]["live"]
    assert on(two[0], "docker", "stop", f"otter-production-{live}").ok
    stopped = snapshot(two[0])
    code, found, summary, said = gate(tmp_path)
    assert code == 1, said
    assert found[b]["in_sync"]
    assert any(f"its instance otter-production-{live} is not running" in c
               for c in found[a]["changes"]), found[a]
    assert [snapshot(t) for t in two] == [stopped, before[1]], "the gate wrote on a target"
    assert on(two[0], "docker", "start", f"otter-production-{live}").ok


def test_a_host_that_does_not_answer_is_2_and_named(tmp_path, two):
    write_app(tmp_path / "app", "v1")
    gone = replace(two[1], host=replace(two[1].host, port=1))  # nothing listens there
    write_otterfile(tmp_path, [two[0], gone])
    code, found, summary, said = gate(tmp_path)
    assert code == 2, said
    assert "error" in found[gone.host.name] and "127.0.0.1:1" in found[gone.host.name]["error"]
    assert summary["errors"] == 1 and summary["exit"] == 2
    code, out, err = gate_text(tmp_path)
    assert code == 2
    assert any(line.startswith("error: ") and "127.0.0.1:1" in line
               for line in err.splitlines()), err
    assert "1 could not be read (exit 2)" in out


def test_a_bad_otterfile_or_flag_alone_is_2(tmp_path, two):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, two, extra="\nDeployment(\n")
    assert gate(tmp_path)[0] == 2
    write_otterfile(tmp_path, two)
    done = otter(tmp_path, "plan", "production", "--exit-code")
    assert done.returncode == 2 and "--exit-code goes with --check" in done.stderr


def test_a_systemd_unit_compares_as_installed_and_an_edit_is_drift(tmp_path, two):
    from tests.integration.test_systemd_deploy import write_project
    write_project(tmp_path, two[:1], "v1")  # `python3 ...`: the unit names /usr/bin/python3
    assert otter(tmp_path, "run", "production").returncode == 0
    before = snapshot(two[0])
    code, found, summary, said = gate(tmp_path)
    assert code == 0, said
    (one,) = found.values()
    unit = f"/etc/systemd/system/otter-production@{one['release']['live']}.service"
    assert on(two[0], "sed", "-i", "s/^LimitNOFILE=.*/LimitNOFILE=1024/", unit).ok
    code, found, summary, said = gate(tmp_path)
    assert code == 1, said
    (one,) = found.values()
    (diff,) = one["diffs"]
    assert diff["kind"] == "file" and diff["path"] == unit
    assert {"-LimitNOFILE=1024", "+LimitNOFILE=65536"} <= set(diff["diff"].splitlines())
    assert on(two[0], "sed", "-i", "s/^LimitNOFILE=.*/LimitNOFILE=65536/", unit).ok
    assert snapshot(two[0]) == before, "the gate wrote on the target"


def test_podman_behind_caddy_and_docker_behind_nginx_are_in_sync_after_a_deploy(
        tmp_path, clean_targets, kind):
    runtime, proxy = kind
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, clean_targets[:1], runtime=runtime, proxy=proxy)
    done = otter(tmp_path, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    code, found, summary, said = gate(tmp_path)
    assert code == 0, said
    assert [f["in_sync"] for f in found.values()] == [True]

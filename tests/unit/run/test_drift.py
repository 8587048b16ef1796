"""The drift gate over recording targets (plan --check's fakes): a target running what the
Otterfile declares is in sync; a hand-edited site, an env changed on either side, a stopped
instance, no state at all each say what and why with diffs; no secret value reaches a Drift
or the read; the read is plan --check's one round trip with the generated files' globs; an
artifact only a deploy knows is an error."""
from __future__ import annotations

import pytest

from otterfile.commands.state import env_file_path
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run import check as checks
from otterfile.run.check import MARK
from otterfile.run.drift_files import OTHER
from otterfile.run.engine import Engine
from otterfile.run.lane import Lane
from otterfile.run.switching import site_of
from otterfile.executors.recording import RecordingExecutor
from tests.unit.run.test_check import (BUILT_THERE, KEY, Images, answer, config_of, live,
                                       project)

pytestmark = pytest.mark.unit

R0 = "20240101T000000-cdcdcdcd"  # test_check.live's release, on port 20000
ENV = env_file_path("production", R0)
SECRET = "s3cret-value"


def with_files(reply: str, files: dict[str, str]) -> str:
    """`reply` with the generated files' part (scripts/read-files.sh) ending the read."""
    text = "--- otter:files\n" + "".join(
        f"--- otter:file {path}\n" + "".join(f"|{line}\n" for line in body.splitlines())
        for path, body in files.items())
    end = f"\n{MARK} production/read 0\n"
    return reply.replace(end, text + end)


def gate(tmp_path, answers: dict, proj=None):
    """check(drift=True) over recording targets answering `answers[host]`."""
    proj = proj or project(tmp_path)
    made = {}

    def connect(host, _folder):
        return made.setdefault(host.name, RecordingExecutor(host, {
            lambda c: c.description.startswith("what the target"): answers.get(host.name, "")}))
    engine = Engine(proj, lambda event: None, connect=connect, images=Images(),
                    env={"production": {"A": "1", "TOKEN": SECRET}})
    try:
        return checks.check(engine, plan(proj, ["production"]), drift=True), made
    finally:
        engine.close()


def in_sync_reply(proj, *, config=None, site=None, env="A=1\nTOKEN=s3cret-value\n",
                  running=True):
    dep = proj.deployments["production"]
    state, listing = live(config or config_of(proj), running=running)
    return with_files(answer(key=KEY, state=state, listing=listing, probe="present",
                             site=site if site is not None else
                             site_of(Lane(dep, dep.hosts[0]), 20000), upstream="20000\n"),
                      {ENV: env} if env is not None else {})


def test_a_target_running_what_the_otterfile_declares_is_in_sync(tmp_path):
    proj = project(tmp_path)
    found, made = gate(tmp_path, {"web1": in_sync_reply(proj), "web2": in_sync_reply(proj)})
    assert [(f.release, f.drift.in_sync, f.drift.changes, f.drift.diffs) for f in found] == \
        [("none", True, (), ())] * 2
    for host in ("web1", "web2"):  # plan --check's one round trip, the globs in it
        (command,) = made[host].commands
        line = command.shell_line()
        assert "/var/lib/otter/production/env/*.env" in line and SECRET not in line


def test_a_hand_edited_site_and_env_say_what_differs_with_values_masked(tmp_path):
    proj = project(tmp_path)
    dep = proj.deployments["production"]
    site = site_of(Lane(dep, dep.hosts[0]), 20000)
    edited = site.replace("app.test", "app.test, old.test", 1)
    found, _ = gate(tmp_path, {
        "web1": in_sync_reply(proj, site=edited),
        "web2": in_sync_reply(proj, config="other", env="A=2\nTOKEN=an-older-one\nB=x\n")})
    one, two = (f.drift for f in found)
    assert [d.kind for d in one.diffs] == ["site"] and not one.in_sync
    assert one.changes == (f"proxy site {dep.proxy_kind.site_path('production')}: differs "
                           "from what otter generates (a run that starts no release leaves "
                           "it so)",)
    assert "-app.test, old.test {" in one.diffs[0].diff.splitlines()
    assert two.changes[0] == (f"release: a new release starts beside {R0} (its env, runtime "
                              "settings or proxy changed)")
    (env,) = two.diffs
    assert (env.kind, env.path) == ("env", ENV)
    assert env.diff.splitlines() == [
        f"--- web2:{ENV}", "+++ Otterfile", "@@ -1,3 +1,2 @@", "-A=2", f"-TOKEN={OTHER}",
        "-B=***", "+A=1", "+TOKEN=***"]
    assert "an-older-one" not in repr(found) and SECRET not in repr(found)


def test_a_stopped_instance_no_state_and_a_missing_env_file_are_changes(tmp_path):
    proj = project(tmp_path)
    found, _ = gate(tmp_path, {"web1": in_sync_reply(proj, running=False, env=None),
                               "web2": answer(probe="present")})
    stopped, fresh = (f.drift for f in found)
    assert stopped.changes == (
        f"release: a new release starts beside {R0} (its instance otter-production-{R0} "
        "is not running)", f"env file {ENV}: missing on the target")
    assert stopped.diffs[0].diff.startswith("--- /dev/null\n+++ Otterfile\n")
    assert fresh.changes == ("release: no release state on the target: a run starts the "
                             "first release", "proxy site /etc/caddy/otter.d/production.caddy:"
                             " missing on the target")


def test_a_stopped_proxy_and_a_new_artifact_are_changes(tmp_path):
    proj = project(tmp_path)
    reply = in_sync_reply(proj, config="made-of-another").replace('"digest": "sha256:abab',
                                                                  '"digest": "sha256:cdcd')
    found, _ = gate(tmp_path, {"web1": reply.replace("installed\nrunning\n", "installed\n"),
                               "web2": in_sync_reply(proj)})
    assert found[0].drift.changes[:2] == (
        f"release: a new release starts beside {R0} (a new artifact (sha256:cdcdabababab "
        "-> sha256:abababababab))", "proxy: caddy is not running: a run starts it")
    assert found[1].drift.in_sync


def test_an_artifact_known_only_at_deploy_cannot_be_judged(tmp_path):
    (tmp_path / "Otterfile.py").write_text(BUILT_THERE)
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    state, listing = live("cfg")
    found, _ = gate(tmp_path, {"a": answer(state=state, listing=listing)}, proj)
    (one,) = found
    assert one.error == ("a: cannot tell whether production would change: its artifact is "
                         "built on builder at deploy (not by --check)") and one.drift is None


def test_only_the_live_releases_files_are_compared(tmp_path):
    # the glob reads every release's env file: only the live one's is compared
    proj = project(tmp_path)
    reply = in_sync_reply(proj)
    other = env_file_path("production", "20230101T000000-abababab")
    reply = reply.replace("--- otter:files\n", f"--- otter:files\n--- otter:file {other}\n"
                          "|A=old\n")
    found, _ = gate(tmp_path, {"web1": reply, "web2": in_sync_reply(proj)})
    assert [f.drift.in_sync for f in found] == [True, True]


PULLED = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=registry("registry.test/app:latest"), runtime=docker(port=80),
                      targets=[ssh("root@a")], domains=["app.test"], proxy=caddy())
'''


def test_a_registry_tag_not_pinned_cannot_be_judged_and_says_how_it_could(tmp_path):
    (tmp_path / "Otterfile.py").write_text(PULLED)
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    state, listing = live("cfg")
    found, _ = gate(tmp_path, {"a": answer(state=state, listing=listing)}, proj)
    (one,) = found
    assert one.error == ("a: cannot tell whether production would change: its digest is "
                         "known only when a target pulls it (a pinned image, "
                         "IMAGE@sha256:..., can be told)")


def with_schedules(reply: str, names: str) -> str:
    """`reply` with the read's last part: the schedules the target has units of."""
    end = f"\n{MARK} production/read 0\n"
    return reply.replace(end, f"--- otter:schedules\n{names}" + end)


def test_units_of_a_schedule_no_longer_declared_are_drift(tmp_path):
    """The Otterfile declares no schedule, the target has `backup`'s units: the release is
    a no-op, yet the gate says what a run removes (exit 1), per target."""
    proj = project(tmp_path)
    found, _ = gate(tmp_path, {"web1": with_schedules(in_sync_reply(proj), "backup\n"),
                               "web2": with_schedules(in_sync_reply(proj), "")})
    assert found[0].release == "none" and found[0].schedules == ("backup",)
    assert found[0].drift.changes == (
        "schedule backup: no longer declared: a run removes its timer and service",)
    assert not found[0].drift.in_sync
    assert found[1].schedules == () and found[1].drift.in_sync
    from otterfile.cli.plan_check import check_record, check_table
    from otterfile.cli.plan_drift import exit_code
    assert exit_code(found) == 1 and exit_code(found[1:]) == 0
    assert check_table(found).splitlines()[-1] == \
        "note: web1: production's schedule units of backup are no longer declared: a run " \
        "removes them"
    assert check_record(found[0])["schedules"] == {"remove": ["backup"]}
    assert "schedules" not in check_record(found[1])

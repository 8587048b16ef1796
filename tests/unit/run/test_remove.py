"""`otter remove`: what a target's answer means, the round trips in their order, the shell
piece that deletes state (run for real in a temp folder), and the command line's refusals."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.load.evaluate import evaluate
from otterfile.executors.recording import RecordingExecutor
from otterfile.hosts import LocalHost
from otterfile.load.loader import load
from otterfile.run import remove as removal

pytestmark = pytest.mark.unit

OLD, NEW, SHARED = ("sha256:" + c * 64 for c in "abc")
R1, R2 = "20240101T000000-aaaaaaaa", "20240102T000000-bbbbbbbb"
OTTERFILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime={runtime}(port=8080, **{extra}), targets=[ssh("root@web1")],
                      domains=["app.test"], proxy={proxy}(), drain_seconds=3, stop_seconds=7)
'''


def project(tmp_path, runtime="docker", proxy="caddy"):
    extra = {"command": "./app {port}"} if runtime == "systemd" else {}
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(runtime=runtime, proxy=proxy,
                                                            extra=extra))
    return evaluate(load(tmp_path / "Otterfile.py"))


def release(rid, digest, status, instance=None):
    return {"id": rid, "digest": digest, "image": "", "status": status, "port": 20000,
            "instance": instance}


SITE = "the site\n"


def answer(dep, *, site=True, others=("",), records="") -> str:
    """What `read` prints: two releases (R2 live, R1 previous), both instances, the site."""
    r1, r2 = (dep.runtime.kind.instance_name(dep.name, r) for r in (R1, R2))
    state = {"releases": [release(R1, OLD, "previous", r1), release(R2, NEW, "live", r2)],
             "live": R2}
    row = "{0}\t{1}\t{2}\tActiveState=active\n" if dep.runtime.kind.name == "systemd" \
        else "{0}\trunning\t{1}\t{2}\tUp\n"  # a unit's listing, or a container's
    listing = "".join(row.format(*each) for each in ((r1, R1, OLD), (r2, R2, NEW)))
    text = (f"\n--- otter:key\n{json.dumps(state)}\n--- otter:instances\n{listing}"
            f"--- otter:log\n--- otter:site\n{SITE if site else ''}"
            f"--- otter:upstream\n--- otter:started\n{records}--- otter:switch\n"
            "--- otter:old-sites\n")
    for index, other in enumerate(others):
        text += f"--- otter:other /var/lib/otter/other{index}/releases.json\n{other}\n"
    return text


def other_state(*digests: str) -> str:
    return json.dumps({"releases": [release(f"20240103T00000{i}-cccccccc", d, "live")
                                    for i, d in enumerate(digests)]})


def test_parse_names_what_is_there_and_what_another_deployment_shares(tmp_path):
    dep = project(tmp_path).deployments["production"]
    found = removal.parse(dep, "web1", answer(dep, others=(other_state(OLD, SHARED),)))
    assert found.instances == (f"otter-production-{R1}", f"otter-production-{R2}")
    assert found.live == f"otter-production-{R2}" and found.site and found.releases == 2
    assert found.digests == (OLD, NEW) and found.shared == (OLD,)
    assert found.prunable == (NEW,)


def test_an_unreadable_state_of_another_deployment_keeps_every_artifact(tmp_path):
    dep = project(tmp_path).deployments["production"]
    found = removal.parse(dep, "web1", answer(dep, others=("{not json",)))
    assert found.prunable == () and found.shared == (OLD, NEW)


def test_an_empty_target_has_nothing_to_remove(tmp_path):
    dep = project(tmp_path).deployments["production"]
    found = removal.parse(dep, "web1", "\n--- otter:key\n\n--- otter:instances\n"
                          "--- otter:log\n--- otter:site\n--- otter:started\n")
    assert found.empty and found.prunable == ()


@pytest.mark.parametrize("runtime,proxy", [("docker", "caddy"), ("podman", "nginx"),
                                           ("systemd", "caddy")])
def test_site_first_then_drain_then_instances_artifacts_state(tmp_path, runtime, proxy):
    dep = project(tmp_path, runtime, proxy).deployments["production"]
    found = removal.parse(dep, "web1", answer(dep, others=(other_state(OLD),)))
    text = removal.removal(dep, found).argv[2]
    rt, px = dep.runtime.kind, dep.proxy_kind
    from otterfile.commands.drain import drain
    assert found.live_port == 20000
    pieces = [px.remove("production"), drain(20000, 3),
              rt.stop(found.live, drain_seconds=0, stop_seconds=7),
              rt.remove(*found.instances), rt.prune([NEW], [OLD])]
    at = [text.index(piece.shell_line()) for piece in pieces]
    assert at == sorted(at), "site, drain until idle, stop, remove, prune: in this order"
    assert text.rindex("rm -rf") > at[-1]  # state last, and only its folder
    assert "/var/lib/otter/production" in text and OLD.split(":")[1] not in \
        rt.prune([NEW], [OLD]).shell_line()


def test_without_a_site_nothing_is_reloaded_or_drained(tmp_path):
    dep = project(tmp_path).deployments["production"]
    found = removal.parse(dep, "web1", answer(dep, site=False))
    text = removal.removal(dep, found).argv[2]
    assert dep.proxy_kind.remove("production").shell_line() not in text
    assert "sleep" not in text


def test_the_state_folder_keeps_lock_and_data_only(tmp_path):
    folder = tmp_path / "production"
    for name in ("lock", "data", "env", "releases"):
        (folder / name).mkdir(parents=True)
    for name in ("releases.json", "deploy.log", "fingerprint.key", "env/R1.env", "data/db",
                 ".hidden"):
        (folder / name).write_text("x")
    forget = removal.removal(removal_dep(tmp_path), removal.Found(), base=str(tmp_path))
    subprocess.run(forget.argv, check=True)
    assert sorted(p.name for p in folder.iterdir()) == ["data", "lock"]
    assert (folder / "data" / "db").exists()
    (folder / "lock").rmdir()
    subprocess.run(removal.forget_folder("production", str(tmp_path)).argv, check=True)
    assert folder.exists()  # data is left, so the folder stays
    subprocess.run(removal.removal(removal_dep(tmp_path), removal.Found(),
                                   base=str(tmp_path / "none")).argv, check=True)


def removal_dep(tmp_path):
    return project(tmp_path).deployments["production"]


def scripted(dep, read_answer):
    def matches(prefix):
        return lambda command: command.description.startswith(prefix)
    return RecordingExecutor(LocalHost("web1"), {
        matches("lock "): "status=acquired\n", matches("unlock "): "status=released\n",
        matches("read what"): read_answer})


def test_remove_holds_the_lock_around_read_and_removal(tmp_path):
    dep = removal_dep(tmp_path)
    executor = scripted(dep, answer(dep))
    found = removal.remove(dep, executor, run_id="run1")
    steps = [c.description.split(":")[0] for c in executor.commands]
    assert steps == ["lock production", "read what the target has of production",
                     "remove production", "unlock production",
                     "remove the state folder of production"]
    assert found.instances and found.site


def test_the_command_line_asks_first_and_refuses_without_a_terminal(tmp_path):
    project(tmp_path)
    result = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "remove",
                                       "production"])
    assert result.exit_code == 2 and "--yes" in result.output
    unknown = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "remove",
                                        "nope", "--yes"])
    assert unknown.exit_code == 2 and "unknown deployment 'nope'" in unknown.output


def fake_hosts(monkeypatch, tmp_path, read_answer: str, fail_removal: bool = False):
    """`otter remove` against a recording target (no SSH); returns what it was asked."""
    dep = removal_dep(tmp_path)
    made = []

    def connect(host, **_options):
        executor = scripted(dep, read_answer)
        if fail_removal:
            executor.responses[lambda c: c.description == "remove production"] = 5
        made.append(executor)
        return executor
    monkeypatch.setattr("otterfile.executors.executor_for", connect)
    return made


def invoke(tmp_path, *args, stdin=None):
    return CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "remove",
                                     "production", *args], input=stdin)


def descriptions(made) -> list[str]:
    return [c.description.split(":")[0] for e in made for c in e.commands]


def test_dry_run_reads_only(tmp_path, monkeypatch):
    made = fake_hosts(monkeypatch, tmp_path, answer(removal_dep(tmp_path)))
    result = invoke(tmp_path, "--dry-run")
    assert result.exit_code == 0, result.output
    assert descriptions(made) == ["read what the target has of production"]
    assert "would remove" in result.output and f"otter-production-{R2}" in result.output


def test_the_question_on_a_terminal(tmp_path, monkeypatch):
    # the package's `remove` is the click command; its module is patched by name
    monkeypatch.setattr(sys.modules["otterfile.cli.remove"], "_terminal", lambda: True)
    made = fake_hosts(monkeypatch, tmp_path, answer(removal_dep(tmp_path)))
    declined = invoke(tmp_path, stdin="n\n")
    assert declined.exit_code == 1 and "nothing removed" in declined.output
    assert "remove production" not in descriptions(made)
    accepted = invoke(tmp_path, stdin="y\n")
    assert accepted.exit_code == 0, accepted.output
    assert "remove production" in descriptions(made) and "removed" in accepted.output


def test_a_failed_target_exits_1_and_says_why(tmp_path, monkeypatch):
    made = fake_hosts(monkeypatch, tmp_path, answer(removal_dep(tmp_path)), fail_removal=True)
    result = invoke(tmp_path, "--yes")
    assert result.exit_code == 1 and "removing production failed (exit 5)" in result.output
    assert descriptions(made)[-1] == "unlock production"  # the lock is released anyway


# --- which artifacts go: only those otter started this deployment from --------------------

FOREIGN = "sha256:" + "f" * 64  # an image a tampered releases.json names, otter never loaded


def tampered(dep, records: str = "", **options) -> str:
    """`answer` with FOREIGN added to releases.json as a retired release, and the store's
    records listed (hex names, one a line)."""
    text = answer(dep, **{"others": (other_state(),), "records": records, **options})
    key, mark, state_line, rest = text.split("\n", 3)
    state = json.loads(state_line)
    rid = "20231231T000000-ffffffff"
    state["releases"].insert(0, release(rid, FOREIGN, "retired",
                                        dep.runtime.kind.instance_name(dep.name, rid)))
    return f"{key}\n{mark}\n{json.dumps(state)}\n{rest}"


@pytest.mark.parametrize("runtime", ["docker", "podman", "systemd"])
def test_a_digest_only_releases_json_names_is_never_removed(tmp_path, runtime):
    dep = project(tmp_path, runtime).deployments["production"]
    found = removal.parse(dep, "web1", tampered(dep))
    assert FOREIGN in found.digests and FOREIGN not in found.prunable
    assert found.prunable == (OLD, NEW)  # their instances' labels say otter ran them
    assert found.unknown == (FOREIGN,)
    text = removal.removal(dep, found).argv[2]
    assert "f" * 64 not in text
    assert dep.runtime.kind.prune([OLD, NEW], []).shell_line() in text
    assert "(kept: 1 not started here by otter)" in removal.describe(found)[2]


def test_the_stores_record_names_what_otter_started_after_its_instances_are_gone(tmp_path):
    dep = project(tmp_path).deployments["production"]
    gone = tampered(dep).replace(f"otter-production-{R1}\trunning\t{R1}\t{OLD}\tUp\n", "")
    assert removal.parse(dep, "web1", gone).prunable == (NEW,)  # R1's container is gone
    recorded = removal.parse(dep, "web1", tampered(dep, records="a" * 64 + "\n").replace(
        f"otter-production-{R1}\trunning\t{R1}\t{OLD}\tUp\n", ""))
    assert recorded.prunable == (OLD, NEW) and FOREIGN not in recorded.prunable
    text = removal.removal(dep, recorded).argv[2]
    assert "rm -rf -- \"$1\"' sh /var/lib/otter/artifacts/started/production" in text


def test_the_read_names_every_proxy_kinds_site_and_lists_the_other_states(tmp_path):
    dep = project(tmp_path).deployments["production"]
    base = tmp_path / "otter"
    line = removal.read(dep, base=str(base)).shell_line()
    for path in ("/etc/caddy/otter.d/production.caddy",
                 "/etc/nginx/conf.d/otter-production.conf",
                 "/var/lib/otter/artifacts/started/production"):
        assert path in line
    for name in ("production", "other"):
        (base / name).mkdir(parents=True)
        (base / name / "releases.json").write_text(f'{{"name": "{name}"}}')
    listed = subprocess.run(["sh", "-c", removal.OTHERS_SCRIPT, "sh", str(base), "production"],
                            capture_output=True, text=True)
    assert listed.stdout == f'--- otter:other {base}/other/releases.json\n{{"name": "other"}}\n'
    from otterfile.commands import store
    assert store.started_record("production", NEW) == \
        "/var/lib/otter/artifacts/started/production/" + "b" * 64
    assert store.started_record("production", "not-a-digest") == ""


def test_the_question_lists_everything_it_deletes(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules["otterfile.cli.remove"], "_terminal", lambda: True)
    dep = removal_dep(tmp_path)
    made = fake_hosts(monkeypatch, tmp_path, tampered(dep, others=(other_state(OLD),)))
    declined = invoke(tmp_path, stdin="n\n")
    assert declined.exit_code == 1 and "nothing removed" in declined.output
    assert descriptions(made) == ["read what the target has of production"]  # read only
    question = declined.output.split("Remove?")[0]
    assert question.splitlines() == [
        "This removes production from web1:",
        "  web1 (production):",
        f"    docker instances: otter-production-{R1}, otter-production-{R2}",
        f"    images: {NEW[:19]}; kept: {OLD[:19]} (another deployment uses it), "
        f"{FOREIGN[:19]} (otter has no record of starting production from it)",
        "    proxy site: /etc/caddy/otter.d/production.caddy",
        "    state folder /var/lib/otter/production: 3 release records, the deploy log, env "
        "files (secrets); /var/lib/otter/production/data stays",
        "    records in /var/lib/otter/artifacts/started/production"]


@pytest.mark.parametrize("runtime", ["docker", "systemd"])
def test_a_previews_removal_drops_its_data_after_its_instances(tmp_path, runtime):
    """`with_data` (a preview): the data goes once the instances are gone, before the state;
    a deployment's own removal never touches its data."""
    dep = project(tmp_path, runtime).deployments["production"]
    if runtime == "docker":
        from dataclasses import replace
        dep = replace(dep, runtime=replace(dep.runtime, value=replace(
            dep.runtime.value, volumes=["production_data:/data"])))
    found = removal.parse(dep, "web1", answer(dep))
    drop = dep.runtime.kind.drop_data(dep.runtime.value, dep.name)
    assert drop is not None
    assert drop.shell_line() not in removal.removal(dep, found).argv[2]
    text = removal.removal(dep, found, with_data=True).argv[2]
    rt = dep.runtime.kind
    from otterfile.command import script
    forget = text.index(script(removal.FORGET_SCRIPT,
                               args=["/var/lib/otter/production"]).shell_line())
    at = [text.index(p.shell_line()) for p in (rt.remove(*found.instances), drop)]
    assert at == sorted(at) and forget > at[-1]


def test_a_live_release_of_unknown_port_waits_the_whole_drain(tmp_path):
    """Without the live release's port nothing can be counted: the stop waits drain_seconds."""
    from dataclasses import replace
    dep = project(tmp_path).deployments["production"]
    found = replace(removal.parse(dep, "web1", answer(dep)), live_port=None)
    text = removal.removal(dep, found).argv[2]
    assert "otter-drain" not in text
    assert dep.runtime.kind.stop(found.live, drain_seconds=3, stop_seconds=7).shell_line() \
        in text

"""`otter plan --check` over fake targets and a fake image store: the bytes a target lacks
from layer sizes and chains, the no-op decision, the one read-only round trip per target,
an unreachable host, and the table and JSON a person or a tool reads. Nothing runs."""
from __future__ import annotations

import io
import json

import pytest
from click.testing import CliRunner

from otterfile.transfer.layers import chain_ids
from otterfile.transfer.images import ControllerStore
from otterfile.cli.plan_check import check_record, check_table
from otterfile.load.evaluate import evaluate
from otterfile.executors.recording import RecordingExecutor
from otterfile.executors.openssh import ConnectionFailed
from otterfile.hosts import SSHHost
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.report.json_lines import json_line
from otterfile.run import check as checks
from otterfile.run.check import MARK
from otterfile.run.check_judge import Move, TargetCheck, release_action
from otterfile.transfer.sizes import EMPTY_LAYER, layer_sizes
from otterfile.run.engine import Engine
from otterfile.run import target as reads
from otterfile.run.fingerprint import fingerprint
from otterfile.run.state import Release

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32
BASE, TOP = "sha256:" + "11" * 32, "sha256:" + "22" * 32
KEY = "f00dkey"
OTTERFILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime=docker(port=8080, env={"A": "1", "TOKEN": secret("TOKEN")}),
                      targets=[ssh("root@web1"), ssh("root@web2")], domains=["app.test"],
                      proxy=caddy(), keep_releases=2)
'''
# the engine's history of the image, top first: two instructions that made no layer
HISTORY = [{"Size": 0, "CreatedBy": "CMD"}, {"Size": 0, "CreatedBy": "ENV"},
           {"Size": 20_000, "CreatedBy": "COPY www"}, {"Size": 2_000_000, "CreatedBy": "COPY bb"}]


class Images(ControllerStore):
    """The controller's engine: DIGEST, with two layers (2 MB below, 20 kB on top)."""

    def image_id(self, ref):
        return DIGEST

    def size(self, image_id):
        return 2_020_000

    def layers(self, image_id):
        return [BASE, TOP]

    def history(self, image_id):
        return HISTORY

    def save(self, image_id):
        return io.BytesIO(b"image")


def project(tmp_path):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    return evaluate(load(tmp_path / "Otterfile.py"))


def _line(text: str) -> str:
    """`text` as printed before a marker line (which starts a line of its own)."""
    return text if not text or text.endswith("\n") else text + "\n"


def answer(*, key="", state="", listing="", site="", proxy="installed\nrunning\n",
           probe="missing", layers="", old_sites="", upstream="", switch="file"):
    """What a target prints for the read-only batch (one deployment, docker): whether the
    proxy runs, then the target read (scripts/read-target.sh)."""
    read = (f"{_line(key)}--- otter:key\n{state}\n--- otter:instances\n{_line(listing)}"
            f"--- otter:log\n--- otter:site\n{_line(site)}--- otter:upstream\n"
            f"{_line(upstream)}--- otter:started\n--- otter:switch\n{_line(switch)}"
            f"--- otter:old-sites\n{_line(old_sites)}--- otter:probe\n{_line(probe)}")
    if probe != "present":  # read-target.sh: a target that has it lists no layers
        read += f"--- otter:layers\n{_line(layers)}"
    return "".join(f"{text}\n{MARK} {name} 0\n" for name, text in
                   [("production/proxy", proxy), ("production/read", read)])


def live(config: str, running: bool = True):
    """A state with release R0 live on port 20000, and the listing of its container."""
    release = {"id": "20240101T000000-cdcdcdcd", "digest": DIGEST, "image": "app:1",
               "status": "live", "port": 20000,
               "instance": "otter-production-20240101T000000-cdcdcdcd", "config": config}
    state = json.dumps({"releases": [release], "live": release["id"]})
    listing = "\t".join([release["instance"], "running" if running else "exited",
                         release["id"], DIGEST, "Up"])
    return state, listing


def run_check(tmp_path, answers: dict):
    """check() over recording targets answering `answers[host]` (an exception: raised)."""
    proj = project(tmp_path)
    made = {}

    def connect(host, _folder):
        reply = answers.get(host.name, "")
        executor = Failing(host) if isinstance(reply, Exception) else \
            RecordingExecutor(host, {lambda c: c.description.startswith("what the target"):
                                     reply})
        return made.setdefault(host.name, executor)
    engine = Engine(proj, lambda event: None, connect=connect, images=Images(),
                    env={"production": {"A": "1", "TOKEN": "s3cret-value"}})
    try:
        return checks.check(engine, plan(proj, ["production"])), made, proj
    finally:
        engine.close()


class Failing(RecordingExecutor):
    def run(self, command, **kwargs):
        raise ConnectionFailed(SSHHost("web2", user="root"), "Connection refused")


def config_of(proj):
    dep = proj.deployments["production"]
    return fingerprint(dep, DIGEST, {"A": "1", "TOKEN": "s3cret-value"}, KEY,
                       dep.proxy_kind.shipped_digest(dep.proxy, proj.folder))


def test_layer_sizes_bottom_first_from_history_entries_that_made_layers():
    assert layer_sizes(HISTORY, [BASE, TOP]) == [2_000_000, 20_000]
    assert layer_sizes(None, [BASE, TOP]) is None
    assert layer_sizes(HISTORY, [BASE]) is None  # cannot be matched up: unknown
    empty = EMPTY_LAYER  # a layer of no files has size 0 in the history
    assert layer_sizes(HISTORY, [BASE, empty, TOP]) == [2_000_000, 0, 20_000]


def test_a_fresh_target_lacks_the_whole_image_and_a_first_release_starts(tmp_path):
    found, made, _ = run_check(tmp_path, {"web1": answer(proxy=""), "web2": answer()})
    assert [(f.host, f.move, f.release, f.site, f.proxy) for f in found] == [
        ("web1", Move("layers", 2_020_000, 2, 2), "first", "new", "install"),
        ("web2", Move("layers", 2_020_000, 2, 2), "first", "new", None)]
    for target in (made["web1"], made["web2"]):  # one round trip, nothing written
        assert len(target.commands) == 1
        assert target.commands[0].description == "what the target has (read-only)"
        line = target.commands[0].shell_line()
        assert "s3cret-value" not in line
        assert "write state" not in line and "lock" not in line.replace("/run/lock", "")
        assert "app:1" not in line  # probed by id alone: a probe with the tag would tag it
        assert DIGEST[len("sha256:"):] in line
    assert made["controller"].commands  # the build ran on the controller


def test_only_the_layer_a_target_lacks_is_counted(tmp_path):
    has_base = json.dumps([BASE]) + "\n" + json.dumps(["sha256:" + "99" * 32]) + "\n"
    found, _, _ = run_check(tmp_path, {"web1": answer(layers=has_base),
                                       "web2": answer(layers=json.dumps([BASE, TOP]))})
    assert found[0].move == Move("layers", 20_000, 1, 2)
    assert found[1].move == Move("layers", 0, 0, 2)  # every chain there, the image not
    assert chain_ids([BASE, TOP])[0] == BASE


def test_the_live_release_with_this_artifact_and_config_is_a_noop(tmp_path):
    proj = project(tmp_path)
    state, listing = live(config_of(proj))
    site = "app.test {\n    reverse_proxy 127.0.0.1:20000\n}\n"
    found, _, _ = run_check(tmp_path, {
        "web1": answer(key=KEY, state=state, listing=listing, site=site, probe="present"),
        "web2": answer(key=KEY, state=live("other")[0], listing=listing, site=site)})
    assert (found[0].move, found[0].release, found[0].live, found[0].site) == \
        (Move("none", 0), "none", "20240101T000000-cdcdcdcd", "unchanged")
    assert (found[1].release, found[1].live) == ("new", "20240101T000000-cdcdcdcd")
    assert found[1].site == "changed"  # not what caddy would be given now


def test_the_served_site_differs_only_by_its_port_is_unchanged(tmp_path):
    from otterfile.run.lane import Lane
    from otterfile.run.switching import site_of
    proj = project(tmp_path)
    dep = proj.deployments["production"]
    site = site_of(Lane(dep, dep.hosts[0]), 20000)
    state, listing = live("other")
    found, _, _ = run_check(tmp_path, {
        "web1": answer(key=KEY, state=state, listing=listing, site=site, upstream="20000\n"),
        "web2": answer(key=KEY, state=state, listing=listing, site="")})
    assert [f.site for f in found] == ["unchanged", "new"]
    assert [f.live for f in found] == ["20240101T000000-cdcdcdcd"] * 2


def test_a_starting_release_the_port_file_names_is_live_and_a_reload_switch_is_said(tmp_path):
    from otterfile.run.lane import Lane
    from otterfile.run.switching import site_of
    proj = project(tmp_path)
    dep = proj.deployments["production"]
    site = site_of(Lane(dep, dep.hosts[0]), 20001)
    state, listing = live("other")
    data = json.loads(state)
    data["releases"].append({**data["releases"][0], "id": "20240102T000000-abababab",
                             "status": "starting", "port": 20001,
                             "instance": "otter-production-20240102T000000-abababab"})
    found, _, _ = run_check(tmp_path, {
        "web1": answer(key=KEY, state=json.dumps(data), listing=listing, site=site,
                       upstream="20001\n"),
        "web2": answer(key=KEY, state=state, listing=listing, site=site, upstream="20000\n",
                       switch="reload: njs is not installed")})
    assert [f.live for f in found] == ["20240102T000000-abababab", "20240101T000000-cdcdcdcd"]
    assert [f.switch for f in found] == ["file", "reload: njs is not installed"]
    table = check_table(found)
    assert "switches by reload: njs is not installed" in table.splitlines()[3]
    assert "switches by" not in table.splitlines()[2]
    assert check_record(found[1])["proxy"]["switch"] == "reload: njs is not installed"


def test_sections_are_parsed_whether_or_not_a_part_ends_its_line():
    stdout = f"f00dkey\n{MARK} a/key 0\n\n{MARK} a/site 0\nx\n\n{MARK} layers/docker 3\n"
    assert checks.parse_sections(stdout) == {"a/key": (0, "f00dkey"), "a/site": (0, ""),
                                             "layers/docker": (3, "x\n")}


def test_the_batch_marks_the_end_of_each_part(tmp_path):
    """The batch for two deployments, run by sh with the proxy, engine and state missing
    (read-only, nothing there): every part ends with its marker, the state read is empty."""
    import subprocess
    from otterfile.run.lane import Lane
    proj = project(tmp_path)
    dep = proj.deployments["production"]

    class Engine:
        artifacts = {}
    command = checks.read_command(Engine(), [Lane(dep, dep.hosts[0])])
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "sh").symlink_to("/bin/sh")  # only sh: no docker, caddy, cat
    done = subprocess.run(["sh", "-c", command.shell_line()], capture_output=True,
                          text=True, env={"PATH": str(tmp_path / "bin")})
    assert done.returncode == 0, done.stderr
    parts = checks.parse_sections(done.stdout)
    assert set(parts) == {"production/proxy", "production/read"}
    assert parts["production/read"][0] == 0  # a missing key is read as none, not made
    read = reads.sections(parts["production/read"][1])
    assert {reads.KEY_MARK, reads.SITE_MARK, reads.UPSTREAM_MARK, reads.SWITCH_MARK,
            "--- otter:old-sites"} <= set(read)


def test_a_starting_release_the_proxy_serves_is_live_as_recover_would_see_it(tmp_path):
    from otterfile.commands.state import TargetState
    from otterfile.run.state import State
    dep = project(tmp_path).deployments["production"]
    old = Release("R0", DIGEST, "app:1", None, None, "", "live", 20000, "c-R0", "cfg")
    new = Release("R1", DIGEST, "app:1", None, None, "", "starting", 20001, "c-R1", "cfg")
    state = State(releases=(old, new), live="R0")

    def served(port):
        site = "app.test {\n    reverse_proxy 127.0.0.1:%s\n}\n" % port if port else ""
        return reads.live(dep, reads.Reading("", TargetState(state), site))[1]
    assert served(20001) == new
    assert served(20000) == old
    assert served(None) == old


def test_a_stopped_proxy_would_be_started(tmp_path):
    found, _, _ = run_check(tmp_path, {"web1": answer(proxy="installed\n"), "web2": answer()})
    assert [f.proxy for f in found] == ["start", None]


def test_another_proxy_kind_serving_the_deployment_would_hand_over(tmp_path):
    found, _, _ = run_check(tmp_path, {
        "web1": answer(proxy="installed\n", old_sites="nginx active\n"),
        "web2": answer(proxy="installed\n", old_sites="nginx inactive\n")})
    assert [f.proxy for f in found] == ["take over from nginx", "start"]


BUILT_THERE = '''
from otterfile import *

@target("builder")
def builder():
    return ssh("root@builder")

@deployment
def production():
    return Deployment(artifact=build(repo="https://git.test/app.git", command="docker build -t app .",
                                     on="builder"),
                      runtime=docker(port=80), targets=[ssh("root@a")], domains=["app.test"],
                      proxy=caddy())
'''


def test_an_artifact_built_on_a_build_host_is_not_built_by_check(tmp_path):
    (tmp_path / "Otterfile.py").write_text(BUILT_THERE)
    proj = evaluate(load(tmp_path / "Otterfile.py"))
    made = {}

    def connect(host, _folder):
        return made.setdefault(host.name, RecordingExecutor(host, {
            lambda c: c.description.startswith("what the target"): answer()}))
    engine = Engine(proj, lambda event: None, connect=connect, images=Images())
    try:
        found = checks.check(engine, plan(proj, ["production"]))
    finally:
        engine.close()
    assert set(made) == {"a"}  # neither the build host nor the controller was asked
    assert (found[0].move, found[0].release, found[0].digest) == (Move("unknown"), "first", None)
    assert found[0].note == "built on builder at deploy (not by --check)"
    assert "unknown: built on builder" in check_table(found)


def test_release_action():
    release = Release("R0", DIGEST, "app:1", None, None, "", "live", 20000, "c-R0", "cfg")
    assert release_action(None, False) == "first"
    assert release_action(release, True) == "none"
    assert release_action(release, False) == "new"
    assert release_action(release, False, recreate=True) == "replace"
    assert release_action(release, False, known=False) == "unknown"


def test_an_unreachable_host_is_an_error_and_the_others_are_shown(tmp_path):
    found, _, _ = run_check(tmp_path, {"web1": answer(), "web2": ConnectionFailed(
        SSHHost("web2", user="root"), "Connection refused")})
    assert found[0].release == "first" and found[0].error is None
    assert found[1].error.startswith("web2: cannot connect to")
    assert checks.failed(found)


def test_table_and_json():
    found = [TargetCheck("web1", "root@web1", "production", "web", DIGEST,
                         Move("layers", 20_000, 1, 2), "new", "R0", "unchanged",
                         "/etc/caddy/otter/production.caddy"),
             TargetCheck("web2", "root@web2", "production", "web", DIGEST, Move("none", 0),
                         "none", "R0", "unchanged", "/etc/caddy/otter/production.caddy"),
             TargetCheck("web3", "root@web3", error="web3: cannot connect to root@web3: no")]
    assert check_table(found).splitlines() == [
        "host  artifact          bytes to send            release                proxy site",
        "----  ----------------  -----------------------  ---------------------  ----------",
        "web1  web abababababab  19.5 KB (1 of 2 layers)  new release beside R0  unchanged",
        "web2  web abababababab  nothing (has it)         no-op: R0 stays        unchanged",
        "web3                    unreachable"]
    assert json.loads(json_line(check_record(found[0]))) == {
        "v": 1, "event": "check", "host": "web1", "address": "root@web1",
        "deployment": "production",
        "artifact": {"name": "web", "digest": DIGEST, "moves": "layers", "bytes": 20_000,
                     "layers_missing": 1, "layers": 2},
        "release": {"action": "new", "live": "R0"},
        "proxy": {"site": "unchanged", "path": "/etc/caddy/otter/production.caddy"}}
    assert json.loads(json_line(check_record(found[2]))) == {
        "v": 1, "event": "check", "host": "web3", "address": "root@web3",
        "error": "web3: cannot connect to root@web3: no"}


def test_plan_without_check_reaches_no_server(tmp_path, monkeypatch):
    from otterfile.cli import main
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    monkeypatch.setattr("otterfile.run.engines.real_engine", None)  # --check only
    done = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "plan",
                                     "production"])
    assert done.exit_code == 0, done.output
    assert "--check" in CliRunner().invoke(main, ["plan", "--help"]).output

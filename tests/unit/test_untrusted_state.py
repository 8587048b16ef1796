"""What a target says is not trusted: releases.json is checked field by field (a tampered
file naming another container fails the deploy before anything is changed), only containers
otter named are acted on, a corrupt deploy log is skipped, and control characters from a
target never reach the terminal raw."""
from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest

from otterfile.run import deploy_log as dl, state as st, state_file as sf
from otterfile.commands import container
from otterfile.commands import state as cs
from otterfile.errors import OtterError
from otterfile.executors.recording import RecordingExecutor
from otterfile.plan.graph import Task
from otterfile.hosts import LocalHost
from otterfile.proxies import caddy
from otterfile.report.reporters import ConsoleReporter, printable, table
from otterfile.run import kinds, recover as recovery, target as reads
from otterfile.run.runner import FAILED, Event
from otterfile.runtimes import NAMED, docker, systemd
from otterfile.report.status import TargetStatus, render_status

pytestmark = pytest.mark.unit

LIVE = "20240101T000000-cdcdcdcd"
NEW = "20240102T000000-abababab"
OLD = "sha256:" + "cd" * 32
WHERE = "web1:/var/lib/otter/production/releases.json"


def names(release_id: str) -> str:
    return docker.RUNTIME.instance_name("production", release_id)


# the kinds this otter knows; docker behind caddy assumed for a record that names none
KINDS = sf.Kinds(("docker", "podman", "systemd"), ("caddy", "nginx"), "docker", "caddy",
                 lambda kind, release_id: NAMED[kind].instance_name("production", release_id))


def record(release_id: str = LIVE, **changes) -> dict:
    return {"id": release_id, "digest": OLD, "image": "app:1", "commit": "c0ffee",
            "ref": "main", "created": "2024-01-01T00:00:00+00:00", "status": "live",
            "port": 20000, "instance": names(release_id), "config": "0123456789abcdef",
            **changes}


def text(*records: dict, live: object = LIVE, **extra) -> str:
    return json.dumps({"releases": list(records), "live": live, **extra})


def parse(content: str) -> st.State:
    return sf.parse_state(content, WHERE, KINDS)


# --- releases.json -------------------------------------------------------------------------

def test_a_file_otter_wrote_reads_back():
    state = parse(text(record(), record(NEW, status="starting", port=None)))
    assert state.live_release.instance == names(LIVE)
    assert sf.parse_state(sf.format_state(state), WHERE, KINDS) == state
    assert parse("") == st.State() and parse(text(live=None)) == st.State()


def test_unknown_keys_are_tolerated():
    state = parse(text(record(future="x"), newer={"a": 1}))
    assert state.extra == {"newer": {"a": 1}} and state.get(LIVE).port == 20000


BAD_FIELDS = [
    ("id", "2024-01-01", "releases/0/id: expected a release id"),
    ("id", "RELEASE", "releases/0/id"),  # the plan's placeholder is never written
    ("id", "20240101T000000-CDCDCDCD", "releases/0/id"),
    ("id", "20240101T000000-cdcdcdcd/../../x", "releases/0/id"),
    ("id", 20240101, "releases/0/id"),
    ("digest", "sha256:<digest>", "releases/0/digest: expected sha256:<64 hex>"),
    ("digest", "sha256:abc", "releases/0/digest"),
    ("digest", None, "releases/0/digest"),
    ("port", 0, "releases/0/port: expected a port 1..65535 or null, got 0"),
    ("port", 65536, "releases/0/port"),
    ("port", "20000", "releases/0/port"),
    ("port", True, "releases/0/port"),
    ("port", 2.5, "releases/0/port"),
    ("status", "running", "releases/0/status: expected one of starting, live"),
    ("status", None, "releases/0/status"),
    ("image", None, "releases/0/image: expected a string"),
    ("created", 5, "releases/0/created"),
    ("commit", ["c0ffee"], "releases/0/commit: expected a string or null"),
    ("ref", {}, "releases/0/ref"),
    ("config", 1, "releases/0/config"),
    ("instance", 5, "releases/0/instance: expected a string or null"),
    ("runtime", "rkt", "releases/0/runtime: expected one of docker, podman, systemd, got 'rkt'"),
    ("runtime", "Docker", "releases/0/runtime: expected a runtime kind or null"),
    ("runtime", 5, "releases/0/runtime: expected a runtime kind or null, got 5"),
    ("runtime", "docker;rm", "releases/0/runtime: expected a runtime kind"),
    ("proxy", "apache", "releases/0/proxy: expected one of caddy, nginx, got 'apache'"),
    ("proxy", ["caddy"], "releases/0/proxy: expected a proxy kind or null"),
]


@pytest.mark.parametrize("key,value,message", BAD_FIELDS)
def test_each_field_is_checked(key, value, message):
    with pytest.raises(OtterError) as error:
        parse(text(record(**{key: value})))
    assert str(error.value).startswith(f"{WHERE}: not a valid release state file: {message}")


@pytest.mark.parametrize("content,message", [
    ("[1]", "expected an object, got [1]"),
    (json.dumps({"releases": {"a": 1}}), "releases: expected a list"),
    (text("x"), "releases/0: expected an object, got 'x'"),
    (text({"digest": OLD}), "releases/0/id: missing"),
    (text({"id": LIVE}), "releases/0/digest: missing"),
    (text(record(), record()), f"releases/1/id: {LIVE} is listed twice"),
    (text(record(), live="20990101T000000-00000000"), "live: '20990101T000000-00000000' "
                                                       "is not a release in the file"),
    (text(record(), live=["x"]), "live: ['x'] is not a release"),
])
def test_the_file_is_checked_as_a_whole(content, message):
    with pytest.raises(OtterError, match=f"^{WHERE}: not a valid release state file: "):
        parse(content)
    with pytest.raises(OtterError) as error:
        parse(content)
    assert message in str(error.value)


def test_the_instance_must_be_the_one_otter_names():
    tampered = text(record(), record(NEW, status="previous", instance="victim"))
    with pytest.raises(OtterError) as error:
        parse(tampered)
    assert str(error.value) == (
        f"{WHERE}: not a valid release state file: releases/1/instance: 'victim' is not the "
        f"instance otter names for release {NEW} ('otter-production-{NEW}')")
    named = text(record(), record(NEW, status="previous", instance="victim", runtime="podman"))
    with pytest.raises(OtterError, match="releases/1/instance: 'victim' is not the"):
        parse(named)
    assert sf.parse_state(tampered).get(NEW).instance == "victim"  # without kinds
    with pytest.raises(OtterError, match="releases/0/instance: None"):
        parse(text(record(instance=None)))
    legacy = {k: v for k, v in record(container="victim").items() if k != "instance"}
    with pytest.raises(OtterError, match="releases/0/instance: 'victim'"):
        parse(text(legacy))
    unit = systemd.RUNTIME.instance_name("production", LIVE)
    assert parse(text(record(instance=unit, runtime="systemd"))).live_release.instance == \
        f"otter-production@{LIVE}.service"
    with pytest.raises(OtterError, match=f"releases/0/instance: '{names(LIVE)}' is not"):
        parse(text(record(runtime="systemd")))  # a container's name for a unit's release
    assert parse(text(record(instance=unit))).live_release.runtime is None  # an older otter's


def test_a_value_is_shown_escaped_and_cut():
    with pytest.raises(OtterError) as error:
        parse(text(record(digest="\x1b]0;owned\x07" + "x" * 200)))
    message = str(error.value)
    assert "\x1b" not in message and "\\x1b" in message and message.endswith("...")


def test_deep_nesting_is_an_otter_error():
    with pytest.raises(OtterError, match="not a release state file"):
        parse("[" * 100000)


def test_parse_read_checks_with_the_instance_name():
    out = f"{text(record(instance='victim'))}\n{cs.INSTANCES_MARK}\n{cs.LOG_MARK}\n"
    parsers = {"docker": container.parse_containers}
    assert cs.parse_read(out, parsers).state.live_release.instance == "victim"
    with pytest.raises(OtterError, match=f"^{WHERE}: .*'victim' is not the instance"):
        cs.parse_read(out, parsers, WHERE, KINDS)
    assert cs.state_path("production") == "/var/lib/otter/production/releases.json"


# --- recover -------------------------------------------------------------------------------

def listing(*rows: tuple[str, str]) -> str:
    return "".join(f"{name}\trunning\t{release}\t{OLD}\tUp\n" for name, release in rows)


def target(state_text: str, instances: str) -> RecordingExecutor:
    """A recording target whose `read state` prints this state and these instances."""
    out = f"key\n{reads.KEY_MARK}\n{state_text}\n{cs.INSTANCES_MARK}\n{instances}" \
          f"{cs.LOG_MARK}\n{reads.SITE_MARK}\n"
    return RecordingExecutor(LocalHost("web1"), {
        lambda c: c.description.startswith("read state"): out})


def recover(executor: RecordingExecutor):
    said = []
    engine = SimpleNamespace(executor=lambda _host: executor, artifacts={}, rollback=False,
                             emit=lambda task, kind, message: said.append(message))
    from otterfile.load.model import caddy as caddy_value
    dep = SimpleNamespace(name="production", recreate=False, proxy_kind=caddy.PROXY,
                          artifact=SimpleNamespace(name="web"), proxy=caddy_value(),
                          runtime=SimpleNamespace(kind=docker.RUNTIME))
    lane = SimpleNamespace(deployment=dep, runtime=docker.RUNTIME, proxy=caddy.PROXY)
    recovery.recover(engine, lane, Task("production/lock@web1", "lock", host="web1"))
    return lane, said


def test_a_tampered_live_instance_fails_recover_and_removes_nothing():
    executor = target(text(record(instance="victim")),
                      listing((names(LIVE), LIVE), ("victim", LIVE)))
    with pytest.raises(OtterError) as error:
        recover(executor)
    assert str(error.value).startswith("web1:/var/lib/otter/production/releases.json: ")
    assert "releases/0/instance: 'victim' is not the instance otter names" in str(error.value)
    assert [c.description for c in executor.commands] == [
        "read state of production (caddy installed and running)"]


def test_a_tampered_file_fails_the_deploy_before_anything_changes(tmp_path):
    from tests.unit.test_flow import answers, deploy, live_state, verbs  # real engine, fakes
    state = live_state("docker", "").replace(f'"instance": "{names(LIVE)}"',
                                             '"instance": "victim"')
    outcome, target, _ = deploy(tmp_path, "docker", "caddy", answers(state))
    assert outcome.status["production/lock@web1"] == FAILED
    assert "web1:/var/lib/otter/production/releases.json: " in \
        str(outcome.errors["production/lock@web1"])
    # nothing removed, stopped or written; the lock is given back for the next run
    assert verbs(target) == [
        "lock production; read state of production (caddy installed and running)",
        "unlock production"]


def test_only_instances_otter_named_are_removed():
    state = text(record(), record(NEW, status="starting", port=20001))
    executor = target(state, listing(
        (names(LIVE), LIVE), (names(NEW), NEW),  # ours: the live one stays, NEW goes
        ("victim", NEW),  # labelled by hand with a foreign name
        (f"otter-production-{LIVE}", NEW),  # a name and a release label that disagree
        ("otter-production-../x", "../x"), ("nolabel", "")))
    lane, said = recover(executor)
    removes = [c for c in executor.commands if c.description.startswith("remove")]
    assert len(removes) == 1 and removes[0].argv_values()[-2:] == ["docker", names(NEW)]
    assert said == ["web1: releases.json names no runtime for 2 release(s) (an older otter "
                    "wrote it): 2 docker (its instance is there); their proxy is taken to "
                    "be caddy, the Otterfile's",
                    "removed 1 instance(s) left by an earlier run"]
    assert lane.running == frozenset({("docker", names(LIVE)), ("docker", names(NEW))})
    assert lane.state.get(NEW).status == "failed" and lane.previous.id == LIVE


def test_only_instances_named_after_their_release_count_as_otters():
    from otterfile.runtimes import docker
    out = listing((names(LIVE), LIVE), ("victim", LIVE), (f"otter-staging-{LIVE}", LIVE),
                  (names(LIVE), NEW), ("otter-production-", ""))
    ours = kinds.named_by_otter(docker.RUNTIME, "production", container.parse_containers(out))
    assert [(i.name, i.release) for i in ours] == [(names(LIVE), LIVE)]


# --- status and the deploy log -------------------------------------------------------------

GOOD = json.dumps({"when": "2024-01-02T03:04:05+00:00", "who": "ann", "digest": OLD,
                   "commit": "c0ffee", "result": "ok", "seconds": {"ship": 1.25}})


@pytest.mark.parametrize("line", [
    "{torn", "[1, 2]", "null", "5", '"text"', "[" * 100000,
    '{"seconds": [1, 2]}', '{"seconds": {"ship": "slow"}}', '{"seconds": {"ship": true}}',
    '{"seconds": {"ship": ' + "9" * 400 + "}}", '{"seconds": null}', '{"when": 5}',
    '{"who": {"a": 1}}', '{"digest": 5}', '{"commit": ["x"]}', '{"result": 1}',
])
def test_a_corrupt_log_line_is_skipped(line):
    records = dl.parse_log(f"{GOOD}\n{line}\n{GOOD}\n")
    assert records == [json.loads(GOOD)] * 2
    pair = (SimpleNamespace(name="production"), SimpleNamespace(name="web1"))
    shown = render_status([pair], [TargetStatus(log=records)], log_lines=5)
    assert "ship=1.2s" in shown


def test_a_log_record_with_missing_fields_shows_blank():
    records = dl.parse_log('{"future": 1}\n{"when": null, "seconds": {}}\n')
    pair = (SimpleNamespace(name="production"), SimpleNamespace(name="web1"))
    lines = render_status([pair], [TargetStatus(log=records)], log_lines=5).splitlines()
    assert lines[-2:] == ["web1", "web1"]


def test_status_shows_a_bad_target_in_its_row_only():
    dep = SimpleNamespace(name="production")
    pairs = [(dep, SimpleNamespace(name="web1")), (dep, SimpleNamespace(name="web2"))]
    try:
        parse(text(record(instance="victim\x1b[2J")))
    except OtterError as error:
        bad = error
    live = st.Release(LIVE, OLD, commit="c0ffee", status="live", instance=names(LIVE),
                      runtime="docker", proxy="caddy")
    good = TargetStatus([live], live, {("docker", names(LIVE))}, "200 on /")
    shown = render_status(pairs, [bad, good])
    web1, web2 = shown.splitlines()[2:]
    assert web1.startswith("web1  production  ?") and "'victim\\x1b[2J' is not the" in web1
    assert web2.split() == ["web2", "production", LIVE, "c0ffee", "docker,", "caddy",
                            "running", "200", "on", "/", "-"]
    assert "\x1b" not in shown


# --- the terminal --------------------------------------------------------------------------

def test_printable_drops_sequences_and_escapes_controls():
    assert printable("\x1b[31mred\x1b[0m \x1b]0;title\x07ok") == "red ok"
    assert printable("a\tb\nc\rd\x00e\x07f\x1bg\x7fh\x85i\x9b2Jj") == \
        "a\tb\nc\\x0dd\\x00e\\x07f\\x1bg\\x7fh\\x85ij"
    assert printable("a\tb\n", keep="") == "a\\x09b\\x0a"
    assert printable("café ✓") == "café ✓"


def test_a_table_escapes_cells_and_keeps_one_line_per_row():
    shown = table(["name", "status"], [["otter-p-1", "Up\x1b[2J\x1b\x07"], ["b", "x\ny\tz"]])
    assert shown.splitlines() == ["name       status", "---------  ----------",
                                  "otter-p-1  Up\\x1b\\x07", "b          x y z"]


def test_console_output_lines_are_sanitized():
    stream = io.StringIO()
    report = ConsoleReporter(stream)
    task = Task("production/start@web1", "start", host="web1")
    report(Event("output", task, message="\x1b[2J\x1b]0;owned\x07hello\x1b\r"))
    report(Event("end", task, status=FAILED, message="boom\n\x1bc reset", seconds=1.0))
    out = stream.getvalue()
    assert "\x1b" not in out and "\r" not in out
    assert "| hello\\x1b\\x0d\n" in out and "boom\n      \\x1bc reset" in out

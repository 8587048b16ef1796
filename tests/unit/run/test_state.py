"""Release state: ids, file format, transitions, rollback and pruning choices, and the
read/write/log builders run for real against a temp base folder; releases.json, written on a
target, is not trusted: it is checked field by field."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from otterfile.run import deploy_log as dl, state as st, state_file as sf
from otterfile.commands import container
from otterfile.commands import state as cs
from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor
from otterfile.runtimes import NAMED, docker, podman, systemd
from otterfile.values import Instance
from tests.fakes import executable

pytestmark = pytest.mark.unit

T0 = datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)


def release(n: int, status: str = "starting", digest: str | None = None) -> st.Release:
    digest = digest or f"sha256:{n:08x}" + "f" * 56
    rid = st.new_release_id(digest, T0 + timedelta(minutes=n))
    return st.Release(rid, digest, "myapp", "c0ffee", "main", "2024-01-02T03:04:05Z", status,
                      20000 + n, f"otter-production-{rid}")


def deployed(count: int) -> st.State:
    """`count` releases, each made live in turn: the last live, the rest previous."""
    state = st.State()
    for n in range(count):
        r = release(n)
        state = st.mark_live(st.add_release(state, r), r.id)
    return state


def test_release_id_is_sortable_and_utc():
    digest = "sha256:0A1B2C3D4e5f"
    assert st.new_release_id(digest, T0) == "20240102T030405-0a1b2c3d"
    local = T0.astimezone(timezone(timedelta(hours=5)))
    assert st.new_release_id(digest, local) == "20240102T030405-0a1b2c3d"
    assert st.new_release_id(digest, T0) < st.new_release_id("sha256:00000000", T0
                                                               + timedelta(seconds=1))
    with pytest.raises(OtterError):
        st.new_release_id("latest", T0)


def test_format_and_parse_round_trip_keep_unknown_keys():
    state = replace(deployed(2), extra={"future": 1})
    text = sf.format_state(state)
    data = json.loads(text)
    assert set(data) == {"releases", "live", "future"} and text.endswith("}\n")
    assert set(data["releases"][0]) == {"id", "digest", "image", "commit", "ref", "created",
                                        "status", "port", "instance", "config", "runtime",
                                        "proxy"}
    assert sf.parse_state(text) == state and sf.parse_state(text).extra == {"future": 1}
    assert sf.parse_state("") == st.State()
    with pytest.raises(OtterError, match="server-a:.*releases.json"):
        sf.parse_state("{not json", "server-a:/var/lib/otter/p/releases.json")


def test_a_legacy_container_key_is_read_as_the_instance():
    """otter 0.1 wrote each release's container as "container"; it is the instance now."""
    old = release(1)
    record = json.loads(sf.format_state(st.State((old,), old.id)))
    record["releases"][0]["container"] = record["releases"][0].pop("instance")
    state = sf.parse_state(json.dumps(record))
    assert state.get(old.id).instance == f"otter-production-{old.id}"
    assert state == st.State((old,), old.id)
    written = json.loads(sf.format_state(state))["releases"][0]
    assert "container" not in written and written["instance"] == old.instance  # new name
    both = json.loads(sf.format_state(state))
    both["releases"][0]["container"] = "stale"
    assert sf.parse_state(json.dumps(both)).get(old.id).instance == old.instance


def test_transitions():
    a, b = release(1), release(2)
    state = st.add_release(st.State(), a)
    assert state.get(a.id).status == "starting" and state.live is None
    state = st.mark_live(state, a.id)
    assert state.live == a.id and state.live_release.status == "live"
    state = st.mark_live(st.add_release(state, b), b.id)
    assert [r.status for r in state.releases] == ["previous", "live"] and state.live == b.id
    state = st.mark_failed(st.add_release(state, release(3)), release(3).id)
    assert state.get(release(3).id).status == "failed" and state.live == b.id
    assert st.mark_retired(state, a.id).get(a.id).status == "retired"
    assert st.mark_failed(state, b.id).live is None
    with pytest.raises(OtterError, match="no release"):
        st.mark_live(state, "nope")


def test_rollback_target_is_newest_previous_healthy():
    state = deployed(3)
    state = st.mark_failed(st.add_release(state, release(4)), release(4).id)
    assert st.rollback_target(state).id == release(1).id
    assert st.rollback_target(state, to=release(0).id).id == release(0).id
    with pytest.raises(OtterError, match="failed"):
        st.rollback_target(state, to=release(4).id)
    with pytest.raises(OtterError, match="no previous"):
        st.rollback_target(deployed(1))
    back = st.mark_live(state, release(1).id)
    assert back.get(release(2).id).status == "previous" and back.live == release(1).id


def test_prune_keeps_newest_and_live():
    state = deployed(5)
    assert [r.id for r in st.prune_candidates(state, 3)] == [release(0).id, release(1).id]
    assert st.prune_candidates(state, 5) == [] and len(st.prune_candidates(state, 0)) == 4
    # after a rollback the live release is old, and still kept
    rolled = st.mark_live(state, release(1).id)
    assert [r.id for r in st.prune_candidates(rolled, 2)] == [
        release(0).id, release(2).id, release(3).id]


def test_images_to_remove_spares_shared_digests():
    shared = "sha256:" + "a" * 64
    made = [release(n, digest=d) for n, d in enumerate([shared, None, shared, None])]
    state = st.State()
    for r in made:
        state = st.mark_live(st.add_release(state, r), r.id)
    failed = release(9)
    state = st.mark_failed(st.add_release(state, failed), failed.id)
    pruned = st.prune_candidates(state, 2)
    assert [r.id for r in pruned] == [made[0].id, made[1].id]
    assert st.images_to_remove(state, pruned) == [made[1].digest, failed.digest]


def test_trim_history_forgets_oldest_failed_and_retired():
    state = deployed(1)
    for n in range(1, 6):
        state = st.mark_failed(st.add_release(state, release(n)), release(n).id)
    trimmed = st.trim_history(state, limit=2)
    assert [r.id for r in trimmed.releases] == [release(n).id for n in (0, 4, 5)]


def test_log_record_is_one_json_line():
    line = dl.log_record(who="ann@laptop", deployment="production", digest="sha256:ab",
                         result="ok", stages={"ship": 1.23456, "start": 0.5},
                         release="r1", commit="c0ffee", when=T0)
    assert "\n" not in line
    assert json.loads(line) == {"when": "2024-01-02T03:04:05+00:00", "who": "ann@laptop",
                                "deployment": "production", "release": "r1",
                                "digest": "sha256:ab", "commit": "c0ffee", "result": "ok",
                                "seconds": {"ship": 1.235, "start": 0.5}}
    assert dl.parse_log(line + "\n{torn\n[1]\n" + line) == [json.loads(line)] * 2


def test_builders_argv():
    listing = podman.RUNTIME.listing("production")
    read = cs.read_state("production", {"podman": listing}, log_lines=5, base="/b")
    assert read.argv[3:] == ("sh", "/b/production", "5", "0", "podman", listing.shell_line())
    assert listing.argv[:2] == ("podman", "ps")
    write = cs.write_state("production", "{}\n")
    assert write.argv[3:] == ("sh", "/var/lib/otter/production/releases.json", "644")
    assert write.stdin == "{}\n"
    assert cs.env_file_path("production", "r1") == "/var/lib/otter/production/env/r1.env"
    with pytest.raises(ValueError):
        cs.append_log("production", "a\nb")
    with pytest.raises(OtterError):
        cs.read_state("../etc", {"podman": listing})


def test_write_append_read_for_real(tmp_path):
    base, run = str(tmp_path), LocalExecutor().run
    parse = {"docker": container.parse_containers}
    nothing = container.list_containers("no-such-engine", "production")
    empty = run(cs.read_state("production", {"docker": nothing}, log_lines=3, base=base))
    assert empty.ok and cs.parse_read(empty.stdout, parse) == \
        cs.TargetState(st.State(), listed=frozenset({"docker"}))
    state = deployed(2)
    assert run(cs.write_state("production", sf.format_state(state), base=base)).ok
    records = [dl.log_record(who="ann@laptop", deployment="production", digest=f"d{n}",
                             result="ok", stages={}, when=T0) for n in range(4)]
    for record in records:
        assert run(cs.append_log("production", record, base=base)).ok
    engine = tmp_path / "docker"
    executable(engine, "#!/bin/sh\n[ \"$1 $2\" = 'ps -a' ] || exit 1\n"
               "printf 'n1\\trunning\\tr1\\td1\\tUp\\nn0\\texited\\tr0\\td0\\tExited\\n'\n")
    listing = container.list_containers(str(engine), "production")
    got = run(cs.read_state("production", {"docker": listing}, log_lines=3, base=base))
    assert got.ok
    parsed = cs.parse_read(got.stdout, parse)
    assert parsed.state == state
    assert parsed.instances == [Instance("n1", True, "r1", "d1", "Up", "docker"),
                                Instance("n0", False, "r0", "d0", "Exited", "docker")]
    assert [r["digest"] for r in parsed.log] == ["d1", "d2", "d3"]
    assert sorted(os.listdir(tmp_path / "production")) == ["deploy.log", "releases.json"]


def test_parse_read_names_where_a_bad_file_was():
    text = f"{{not json\n{cs.INSTANCES_MARK}\n{cs.LOG_MARK}\n"
    with pytest.raises(OtterError, match="server-a:/var/lib/otter/p/releases.json"):
        cs.parse_read(text, {"docker": container.parse_containers},
                      where="server-a:/var/lib/otter/p/releases.json")


def test_the_fingerprint_key_is_made_once_and_root_only(tmp_path):
    import stat
    base = str(tmp_path / "otter")
    first = LocalExecutor().run(cs.fingerprint_key("production", base=base))
    again = LocalExecutor().run(cs.fingerprint_key("production", base=base))
    assert first.ok and len(first.stdout.strip()) == 64 and again.stdout == first.stdout
    key = tmp_path / "otter" / "production" / "fingerprint.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600


# write_around: a command and the state writes before and after it, in one round trip

def around(tmp_path, command_text: str, before: str | None = "before\n",
           stdin: str | None = None):
    from otterfile.command import script
    command = script(command_text, args=[str(tmp_path / "ran")], stdin=stdin,
                     description="switch")
    made = cs.write_around("production", command, before, "after\n", base=str(tmp_path))
    return LocalExecutor().run(made), tmp_path / "production" / "releases.json"


def test_write_around_writes_before_runs_then_writes_after(tmp_path):
    result, path = around(tmp_path, 'cat > "$1"', stdin="the site\n")
    assert result.ok and cs.changed(result) and path.read_text() == "after\n"
    assert (tmp_path / "ran").read_text() == "the site\n"  # the command read the stdin
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert not list(path.parent.glob("*.otter-tmp.*"))
    made = cs.write_around("production", switch_caddy(), None, "x")
    assert made.description == "switch caddy; write state of production"
    assert made.writes[-1] == ("/var/lib/otter/production/releases.json", None)


def switch_caddy():
    from otterfile.command import script
    return script("true", description="switch caddy", stdin="site")


def test_write_around_a_failed_command_leaves_the_state_before(tmp_path):
    result, path = around(tmp_path, 'touch "$1"; exit 4')
    assert result.exited == 4 and not cs.changed(result)
    assert path.read_text() == "before\n" and (tmp_path / "ran").exists()
    result, path = around(tmp_path, "exit 5", before=None)  # nothing written before
    assert result.exited == 5 and path.read_text() == "before\n"


def test_write_around_a_failed_first_write_runs_nothing(tmp_path):
    (tmp_path / "production").write_text("a file where the folder goes")
    result, _ = around(tmp_path, 'touch "$1"')
    assert result.exited == cs.EXIT_STATE and not (tmp_path / "ran").exists()
    assert "cannot write" in result.stderr and not cs.changed(result)


def test_write_around_a_failed_second_write_still_says_the_command_ran(tmp_path):
    # the command replaces the state folder by a file: the write after it cannot happen
    result, _ = around(tmp_path, 'touch "$1"; d="${1%/*}/production"; rm -rf "$d"; : > "$d"')
    assert cs.changed(result) and not result.ok and (tmp_path / "ran").exists()


def test_write_around_takes_only_commands_that_succeed_with_zero():
    from otterfile.command import script
    with pytest.raises(ValueError):
        cs.write_around("production", script("x", ok_codes=(0, 3)), None, "x")


# --- releases.json, not trusted ----------------------------------------------------------

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

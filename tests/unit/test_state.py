"""Release state: ids, file format, transitions, rollback and pruning choices, and the
read/write/log builders run for real against a temp base folder."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from otterfile import state as st
from otterfile.commands import state as cs
from otterfile.commands.docker import ContainerInfo
from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor

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
    text = st.format_state(state)
    data = json.loads(text)
    assert set(data) == {"releases", "live", "future"} and text.endswith("}\n")
    assert set(data["releases"][0]) == {"id", "digest", "image", "commit", "ref", "created",
                                        "status", "port", "container", "config"}
    assert st.parse_state(text) == state and st.parse_state(text).extra == {"future": 1}
    assert st.parse_state("") == st.State()
    with pytest.raises(OtterError, match="server-a:.*releases.json"):
        st.parse_state("{not json", "server-a:/var/lib/otter/p/releases.json")


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
    assert st.mark_starting(state, a.id).get(a.id).status == "starting"
    assert st.mark_failed(state, b.id).live is None
    with pytest.raises(OtterError, match="no release"):
        st.mark_live(state, "nope")


def test_unfinished_runs_are_found():
    state = st.add_release(deployed(2), release(5))
    assert st.unfinished(state) == [replace(release(5), status="starting")]


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
    line = st.log_record(who="ann@laptop", deployment="production", digest="sha256:ab",
                         result="ok", stages={"ship": 1.23456, "start": 0.5},
                         release="r1", commit="c0ffee", when=T0)
    assert "\n" not in line
    assert json.loads(line) == {"when": "2024-01-02T03:04:05+00:00", "who": "ann@laptop",
                                "deployment": "production", "release": "r1",
                                "digest": "sha256:ab", "commit": "c0ffee", "result": "ok",
                                "seconds": {"ship": 1.235, "start": 0.5}}
    assert st.parse_log(line + "\n{torn\n[1]\n" + line) == [json.loads(line)] * 2


def test_builders_argv():
    read = cs.read_state("production", "podman", log_lines=5, base="/b")
    assert read.argv[3:8] == ("sh", "/b/production", "5", "podman", "ps")
    write = cs.write_state("production", "{}\n")
    assert write.argv[3:] == ("sh", "/var/lib/otter/production/releases.json", "644")
    assert write.stdin == "{}\n"
    assert cs.env_file_path("production", "r1") == "/var/lib/otter/production/env/r1.env"
    with pytest.raises(ValueError):
        cs.append_log("production", "a\nb")
    with pytest.raises(OtterError):
        cs.read_state("../etc")


def test_write_append_read_for_real(tmp_path):
    base, run = str(tmp_path), LocalExecutor().run
    empty = run(cs.read_state("production", "no-such-engine", log_lines=3, base=base))
    assert empty.ok and cs.parse_read(empty.stdout) == cs.TargetState(st.State())
    state = deployed(2)
    assert run(cs.write_state("production", st.format_state(state), base=base)).ok
    records = [st.log_record(who="ann@laptop", deployment="production", digest=f"d{n}",
                             result="ok", stages={}, when=T0) for n in range(4)]
    for record in records:
        assert run(cs.append_log("production", record, base=base)).ok
    engine = tmp_path / "docker"
    engine.write_text("#!/bin/sh\nprintf 'n1\\trunning\\tr1\\td1\\tUp\\n'\n")
    engine.chmod(0o755)
    got = run(cs.read_state("production", str(engine), log_lines=3, base=base))
    assert got.ok
    parsed = cs.parse_read(got.stdout)
    assert parsed.state == state
    assert parsed.containers == [ContainerInfo("n1", "running", "r1", "d1", "Up")]
    assert [r["digest"] for r in parsed.log] == ["d1", "d2", "d3"]
    assert sorted(os.listdir(tmp_path / "production")) == ["deploy.log", "releases.json"]

"""The rollback window's timers and retires on real hosts: however many switches keep a
release, one timer per deployment waits on a target (each switch, and a rollback inside the
window, leaves the one due first to arm the next when it fires: no call to systemd in its
round trip), and it still retires the kept release when the window ends; a retire whose `docker rm` fails leaves the target's
records matching what runs (the stopped release is kept no more), and `otter status` and
`otter rollback` go on from there; a release whose timer cannot be armed is retired at
once, not left running."""
from __future__ import annotations

import json
import time

from tests.integration.deploy import on, otter, served, write_app
from tests.integration.test_window import (KEPT, ONE_TRIP, UNIT, containers, hosts, live_id,
                                           ok, status, windowed)
from tests.testbed import faults

__all__ = ["hosts"]  # the fixture, stopping what timers a test left


def timers(target) -> list[str]:
    """The otter-kept timers of the deployment loaded on the target (waiting, or elapsed
    and not yet collected), as `systemctl list-timers --all` lists them."""
    out = on(target, "systemctl", "list-timers", "--all", "--no-legend", "--plain",
             f"{UNIT}*").stdout
    return sorted(word for line in out.splitlines() for word in line.split()
                  if word.startswith(UNIT) and word.endswith(".timer"))


def units(target) -> list[str]:
    """Every otter-kept unit loaded on the target (timers and their services, in any
    state), each named once without its suffix."""
    out = on(target, "systemctl", "list-units", "--all", "--no-legend", "--plain",
             f"{UNIT}*").stdout
    return sorted({line.split()[0].rsplit(".", 1)[0] for line in out.splitlines()
                   if line.strip()})


def deadline(target) -> str:
    """The timer's name (no suffix) for the deadline the kept folder holds."""
    return f"{UNIT}:{on(target, 'cat', f'{KEPT}/release').stdout.split()[1]}"


def one_timer_by_the_deadline(target) -> None:
    """Exactly one otter-kept timer (and its service) waits, due no later than the kept
    folder's deadline: the one armed for an earlier switch fires first and arms the next."""
    found, kept = timers(target), deadline(target)
    assert len(found) == 1 and units(target) == [found[0].removesuffix(".timer")], units(target)
    assert int(found[0].removesuffix(".timer").split(":")[1]) <= int(kept.split(":")[1]), \
        (found, kept)


def test_one_timer_per_deployment_and_it_still_retires(tmp_path, hosts):
    windowed(tmp_path, hosts, 30)
    for version in ("v1", "v2", "v3"):
        write_app(tmp_path / "app", version)
        ok(otter(tmp_path, "run", "production"))
    for target in hosts:  # v1's timer (armed at v2's switch) arms v2's when it fires
        one_timer_by_the_deadline(target)

    v3 = [live_id(t) for t in hosts]
    said = ok(otter(tmp_path, "rollback", "production"))  # v2 live again, v3 kept
    assert said.count(ONE_TRIP) == 2, said
    for target in hosts:
        one_timer_by_the_deadline(target)
    v2 = [live_id(t) for t in hosts]

    limit = time.monotonic() + 120  # the window (30 s) and the timers' accuracy, under load
    while time.monotonic() < limit and \
            any(on(t, "test", "-e", f"{KEPT}/release").ok or len(containers(t)) > 1
                for t in hosts):
        time.sleep(1)
    assert all(len(containers(t)) == 1 for t in hosts), [containers(t) for t in hosts]
    assert [served(t) for t in hosts] == ["200 v2"] * 2 and [live_id(t) for t in hosts] == v2
    journal = on(hosts[0], "journalctl", "-u", f"{UNIT}:*.service", "--no-pager", "-o", "cat")
    retired = [line for line in journal.stdout.splitlines()
               if line.endswith("(its rollback window ended)") and line.split()[1] == v3[0]]
    assert len(retired) == 1, journal.stdout  # v3, once (the journal holds earlier tests')
    assert [timers(t) for t in hosts] == [[], []]


def test_a_retire_whose_removal_fails_keeps_what_runs(tmp_path, hosts):
    """v3's switch keeps v2 and retires v1, kept before; `docker rm` refused on the
    targets: the run fails at its retire, v1 is stopped and left, and the targets say v2
    is kept (it runs), not v1. `otter rollback`, `docker rm` still refused: back to v2 at
    once (nothing started), the stopped leftover said and left; allowed again, the next
    run removes it."""
    windowed(tmp_path, hosts, 600)
    ids = []
    for version in ("v1", "v2"):
        write_app(tmp_path / "app", version)
        ok(otter(tmp_path, "run", "production"))
        ids.append([live_id(t) for t in hosts])
    v1, v2 = ids
    write_app(tmp_path / "app", "v3")
    for target in hosts:
        faults.refuse(target, "docker", "rm")
    try:
        done = otter(tmp_path, "run", "production")
        said = done.stdout + done.stderr
        assert done.returncode != 0 and "retiring failed" in said, said
        assert "docker rm: refused" in said, said
        v3 = [live_id(t) for t in hosts]
        assert [served(t) for t in hosts] == ["200 v3"] * 2
        for target, old in zip(hosts, v1):  # stopped by the retire, its removal refused
            state = on(target, "docker", "inspect", "-f", "{{.State.Status}}",
                       f"otter-production-{old}")
            assert state.stdout.strip() == "exited", state.stdout + state.stderr
        kept = [s["kept"] for s in status(tmp_path)]
        assert [k["release"] for k in kept] == v2 and all(k["running"] for k in kept), kept
        text = ok(otter(tmp_path, "status", "production"))
        assert text.count("(kept until ") == 2 and all(r in text for r in v2), text
        for target in hosts:
            one_timer_by_the_deadline(target)

        said = ok(otter(tmp_path, "rollback", "production"))
        assert "nothing to start" in said and "1 stopped instance(s) left" in said, said
        assert [served(t) for t in hosts] == ["200 v2"] * 2 and \
            [live_id(t) for t in hosts] == v2
        assert [s["kept"]["release"] for s in status(tmp_path)] == v3
        for target, old in zip(hosts, v1):
            assert on(target, "docker", "container", "inspect", f"otter-production-{old}").ok
            one_timer_by_the_deadline(target)
    finally:
        for target in hosts:
            faults.allow(target, "docker")

    said = ok(otter(tmp_path, "run", "production"))  # v3 again: its recover removes v1's
    assert "removed 1 instance(s) left by an earlier run" in said, said
    assert [served(t) for t in hosts] == ["200 v3"] * 2
    for target, old in zip(hosts, v1):
        gone = on(target, "docker", "container", "inspect", f"otter-production-{old}")
        assert not gone.ok, gone.stdout


def test_a_release_whose_timer_cannot_be_armed_is_retired_not_left_running(tmp_path, hosts):
    """systemd-run failing on the targets when v2's switch keeps v1: v1 is stopped and
    removed at once, with a warning, and nothing is kept; never left running with nothing
    to retire it."""
    windowed(tmp_path, hosts, 600)
    write_app(tmp_path / "app", "v1")
    ok(otter(tmp_path, "run", "production"))
    v1 = [live_id(t) for t in hosts]
    write_app(tmp_path / "app", "v2")
    for target in hosts:
        faults.refuse(target, "systemd-run", "--quiet")  # retire.sh's way of arming
    try:
        said = ok(otter(tmp_path, "run", "production"))
    finally:
        for target in hosts:
            faults.allow(target, "systemd-run")
    assert said.count("its timer could not be armed") == 2, said
    assert all(f"{old} retired now, not kept" in said for old in v1), said
    assert [served(t) for t in hosts] == ["200 v2"] * 2
    for target, old in zip(hosts, v1):
        gone = on(target, "docker", "container", "inspect", f"otter-production-{old}")
        assert not gone.ok, gone.stdout
        assert not on(target, "test", "-e", KEPT).ok
        assert timers(target) == []
    assert all(s.get("kept") is None for s in status(tmp_path)), status(tmp_path)

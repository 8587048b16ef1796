"""The snapshot builders and parsers: named volumes among -v values, what each runtime kind
says of its data, how it holds an instance still and runs a command in a release; the meta
and listing parsers."""
from __future__ import annotations

import pytest

from otterfile.commands import data, snapshots as snaps
from otterfile.load import model
from otterfile.runtimes import KINDS

pytestmark = pytest.mark.unit


def test_only_named_volumes_are_the_engines():
    assert data.named_volumes(["pg:/var/lib/pg", "/srv/x:/x", "./rel:/r", "/anon",
                               "cache:/c:ro", "pg:/again"]) == ["pg", "cache"]


def test_each_runtime_kind_says_where_its_data_is():
    docker = KINDS[model.Docker]
    assert docker.data(model.docker(port=1, volumes=["/srv:/srv"]), "production") is None
    listed = docker.data(model.docker(port=1, volumes=["pg:/x"]), "production", create=True)
    assert listed is not None and listed.argv[4:] == ("docker", "1", "pg")
    podman = KINDS[model.Podman].data(model.podman(port=1, volumes=["pg:/x"]), "production")
    assert podman is not None and podman.argv[4:] == ("podman", "0", "pg")
    folder = KINDS[model.Systemd].data(model.systemd("./app", port=1), "production")
    assert folder is not None and folder.argv[4:] == ("data", "/var/lib/otter/production/data",
                                                     "0")


def test_pause_resume_and_commands_in_a_release():
    docker, unit = KINDS[model.Docker], KINDS[model.Systemd]
    assert docker.freeze("c").argv == ("docker", "pause", "c")
    assert docker.thaw("c").argv == ("docker", "unpause", "c")
    assert docker.exec_in(model.docker(port=1), "production", "R1", ["dump", "-x"]).argv == \
        ("docker", "exec", "otter-production-R1", "dump", "-x")
    assert "SIGSTOP" in unit.freeze("u.service").argv[2]  # where the freezer is missing
    assert "SIGCONT" in unit.thaw("u.service").argv[2]
    ran = unit.exec_in(model.systemd("./app", port=1), "production", "R1", ["bin/dump", "a b"])
    assert ran.argv == (
        "systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--uid=otter-production",
        "-p", "WorkingDirectory=/var/lib/otter/production/releases/R1",
        "-p", "EnvironmentFile=-/var/lib/otter/production/env/R1.env",
        "/var/lib/otter/production/releases/R1/bin/dump", "a b")


def test_meta_and_listing_parse_and_odd_lines_are_left_out():
    meta = snaps.parse_meta("before=R2\nlive=R1\ntime=100\nbytes=2048\nhow=paused\n"
                            "seconds=0.5\nsources=volume-pg,data\nnoise\n")
    assert meta == snaps.Snapshot("R2", "R1", 100, 2048, "paused", 0.5, ("volume-pg", "data"))
    assert snaps.labels(meta) == ["volume pg", "data folder"]
    assert snaps.parse_meta("live=R1\n") is None
    now, found = snaps.parse_listing("now=500\n--- otter:snapshot\nbefore=R2\nbytes=x\n"
                                     "--- otter:snapshot\ngarbage\n")
    assert now == 500 and found == [snaps.Snapshot("R2")]


def test_a_release_name_is_checked_before_it_reaches_a_path():
    from otterfile.command import cmd
    from otterfile.errors import OtterError
    with pytest.raises(OtterError):
        snaps.take("production", "../x", live=None, keep=1, data=cmd("true"), pause=None,
                   resume=None, before=None)

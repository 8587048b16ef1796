"""Preview commands on a target, as data: the listing and what it reads back, the refusal
past `previews`, the expiry armed with the removal as an argument (never in the script's
text), and its disarming."""
from __future__ import annotations

import json

import pytest

from otterfile.command import script
from otterfile.run.preview import (ARM_SCRIPT, LIST_SCRIPT, Preview, arm, disarm, listing,
                                   parse, refused)

pytestmark = pytest.mark.unit


class Dep:
    name = "production--pr-1"
    domains = ("pr-1.preview.example.com",)


def test_listing_runs_the_script_with_base_and_name():
    command = listing(Dep())
    assert command.argv == ("sh", "-c", LIST_SCRIPT, "sh", "/var/lib/otter", "production--pr-1")


def test_parse_reads_labels_and_their_meta():
    out = ('pr-1\t{"label": "pr-1", "domain": "pr-1.p.test", "expires": 1800000000}\n'
           "pr-2\tnot json\n")
    assert parse(out) == [Preview("pr-1", "pr-1.p.test", 1800000000), Preview("pr-2")]


def test_refused_past_the_limit_with_the_list():
    assert refused([], "a", 1) is None
    assert refused(["a"], "a", 1) is None  # a redeploy of the same label
    assert refused(["a", "b"], "c", 3) is None
    assert refused(["b", "a"], "c", 2) == (
        "2 previews already run (previews=2): a, b; remove one first with "
        "`otter remove NAME --preview LABEL`")


def test_arm_passes_every_value_as_an_argument():
    removal = script('rm -rf -- "$1"', args=["/var/lib/otter/production--pr-1"])
    command = arm(Dep(), removal, 3600, "pr-1", now=1000)
    assert command.argv[:3] == ("sh", "-c", ARM_SCRIPT)
    folder, unit, seconds, meta, line = command.argv[4:]
    assert (folder, unit, seconds) == ("/var/lib/otter/production--pr-1",
                                       "otter-expire-production--pr-1", "3600")
    assert json.loads(meta) == {"label": "pr-1", "domain": "pr-1.preview.example.com",
                                "expires": 4600}
    assert line == removal.shell_line()


def test_disarm_stops_the_timer_by_name():
    command = disarm("production--pr-1")
    assert command.argv[-1] == "otter-expire-production--pr-1"
    assert 'systemctl stop "$1.timer"' in command.argv[2]

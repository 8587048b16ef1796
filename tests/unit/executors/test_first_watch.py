"""The one thread that looks for every cold start's master socket (executors/first.py): a
watched start is told once its socket appears, soon; one forgotten is never asked again
(a later try's socket must not end an earlier one's start), and many starts share it."""
from __future__ import annotations

import threading
import time

import pytest

from otterfile.executors import first

pytestmark = pytest.mark.unit


class Start:
    """What the watcher asks: ready() until it says yes."""

    def __init__(self, path):
        self.path, self.asked, self.up = path, 0, threading.Event()

    def ready(self):
        self.asked += 1
        if self.path.exists():
            self.up.set()
        return self.up.is_set()


def test_every_start_is_told_when_its_socket_appears(tmp_path):
    watcher = first._Watcher()
    starts = [Start(tmp_path / f"s{n}") for n in range(30)]
    before = threading.active_count()
    for start in starts:
        watcher.watch(start)
    assert threading.active_count() <= before + 1  # one thread for all of them
    for start in starts[::2]:
        start.path.touch()
    for start in starts[::2]:
        assert start.up.wait(5)
    assert not any(start.up.is_set() for start in starts[1::2])
    for start in starts[1::2]:
        watcher.forget(start)


def test_a_forgotten_start_is_never_asked_again(tmp_path):
    watcher = first._Watcher()
    start = Start(tmp_path / "sock")
    watcher.watch(start)
    time.sleep(0.05)
    watcher.forget(start)
    asked = start.asked
    start.path.touch()  # a later try's socket
    time.sleep(0.3)
    assert start.asked == asked and not start.up.is_set()

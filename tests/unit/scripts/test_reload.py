"""scripts/reload.sh's nginx_old_quiet, for real against processes of this machine: the
reload's wait is over only when every worker from before it has quit or retitled itself
"shutting down" (an old worker still accepting would serve the old config)."""
from __future__ import annotations

import subprocess

import pytest

from otterfile.scripts import load

pytestmark = pytest.mark.unit


def quiet(pids: list[int]) -> bool:
    done = subprocess.run(["sh", "-c", load("reload.sh") + 'nginx_old_quiet "$1"', "sh",
                           " ".join(map(str, pids))], capture_output=True, text=True, timeout=10)
    assert done.stderr == ""  # a worker gone says nothing
    return done.returncode == 0


def worker(title: str) -> subprocess.Popen:
    return subprocess.Popen([title, "30"], executable="sleep")


def test_an_old_worker_still_serving_holds_the_wait():
    serving, leaving = worker("nginx: worker process"), \
        worker("nginx: worker process is shutting down")
    gone = subprocess.Popen(["true"])
    gone.wait()
    try:
        assert quiet([gone.pid, leaving.pid])
        assert not quiet([gone.pid, leaving.pid, serving.pid])
        assert quiet([])
    finally:
        for p in (serving, leaving):
            p.kill()
            p.wait()

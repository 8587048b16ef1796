"""A cold `otter exec` starts its hosts' ssh before it imports what a later command needs
(issue 25, cold fleets): up to the first ssh process, no socket, hashlib, thread pool,
logging, mux protocol, streams or runner; and it starts one ssh per host, each the host's
master to be (ControlMaster=auto), with no thread per host but the one that runs it."""
from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[3]
LATER = ("socket", "hashlib", "concurrent.futures", "logging", "otterfile.executors.mux",
         "otterfile.executors.muxed", "otterfile.executors.streams", "otterfile.run.runner")
OTTERFILE = '''from otterfile import *

@target
def servers():
    return [ssh(f"root@127.0.0.1:{port}", kex="curve25519-sha256") for port in (1, 2, 3)]

@deployment
def production():
    return Deployment(artifact=registry("registry.invalid/app:1"), runtime=docker(port=80),
                      targets=[servers])
'''
# runs `otter exec` in-process; each ssh it starts is recorded, not run (a `true` instead),
# with the modules loaded when the first one started
PROBE = '''
import os, subprocess, sys, threading
sys.argv = ["otter", "-f", {otterfile!r}, "exec", "production", "--", "uname", "-n"]
seen, lock = [], threading.Lock()
popen = subprocess.Popen.__init__
def spawn(self, args, *a, **k):
    if os.path.basename(str(args[0])) == "ssh":
        with lock:
            if not seen:
                print("LOADED", *sorted(sys.modules), file=sys.stderr)
            seen.append(args)
            print("SSH", " ".join(args), file=sys.stderr)
            print("THREADS", threading.active_count(), file=sys.stderr)
        args = ["true"]
    return popen(self, args, *a, **k)
subprocess.Popen.__init__ = spawn
import runpy
try:
    runpy.run_module("otterfile", run_name="__main__")
except SystemExit:
    pass
'''


def test_a_cold_exec_starts_every_ssh_before_what_later_commands_need(tmp_path):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE)
    code = textwrap.dedent(PROBE.format(otterfile=str(tmp_path / "Otterfile.py")))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60, cwd=ROOT,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT),
                               "XDG_RUNTIME_DIR": str(tmp_path), "HOME": str(tmp_path)})
    lines = done.stderr.splitlines()
    loaded = set(next(line for line in lines if line.startswith("LOADED")).split()[1:])
    assert not loaded & set(LATER), loaded & set(LATER)
    starts = [line for line in lines if line.startswith("SSH ")]
    assert len(starts) == 3, done.stderr
    assert all("ControlMaster=auto" in line and "KexAlgorithms=curve25519-sha256" in line
               for line in starts)
    # a thread per host (its command, which also reads its output) and one watching every
    # start: no reader, input feeder or socket watcher per host
    most = max(int(line.split()[1]) for line in lines if line.startswith("THREADS"))
    assert most <= 1 + 3 + 1, done.stderr  # main, the workers, the watcher

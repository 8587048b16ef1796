"""The systemd first deploy of a 50 MB tarball (issue 25 goal 5, W5 systemd and W2), side by
side on the test hosts of OTTER_TESTBED_SLOT: by hand (`tar -x` over ssh, `systemd-run`),
`ssh cat` of the same bytes, this checkout's otter and another checkout's (--peer, e.g.
/work/main), interleaved round by round after a warm-up, the load average printed with each
round, and otter's stage times from `--json` (the slowest host's task of each stage).

    OTTER_TESTBED_SLOT=3 python3 -m bench.systemd_first --rounds 5 --peer /work/main

`--receive`: the ship's target side alone: `ssh cat` of the tarball against `ssh` into each
checkout's guarded store receive (the command line the ship runs, built by that checkout),
the same bytes to the same hosts, with the CPU the target containers used.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import statistics
import subprocess
import sys
import time
from pathlib import Path

from . import otter_side as otter
from .cases import parallel, sh
from .hosts import Host

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".out" / "systemd-first"
UNIT = "otter-bench-hand"
PYCACHE = WORK / "pycache"


def hosts() -> tuple[list[Host], object]:
    sys.path.insert(0, str(ROOT))
    from tests.testbed.hosts import KEPT, Testbed
    from tests.testbed.images import target_tag
    bed = Testbed(KEPT, image=target_tag())
    targets = bed.targets()
    return [Host(t.name, t.ssh_port, t.http_port, str(bed.key), str(bed.known_hosts))
            for t in targets], (bed, targets)


def cpu_of(containers: list[str]) -> float:
    """CPU seconds the containers used so far (cgroup v1 cpuacct): less noisy than wall
    time on a loaded machine."""
    total = 0
    for name in containers:
        full = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", name], capture_output=True,
                              text=True).stdout.strip()
        path = Path(f"/sys/fs/cgroup/cpuacct/docker/{full}/cpuacct.usage")
        total += int(path.read_text()) if path.exists() else 0
    return total / 1e9


def timed(argv: list[str], env: dict[str, str] | None = None) -> tuple[float, str, float]:
    """(wall seconds, stdout, CPU seconds of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    # from outside both checkouts: `python -m otterfile` imports the current folder's first
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})}, cwd=WORK)
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{argv[:3]} exit {done.returncode}: {done.stderr[-800:]}"
                           f"{done.stdout[-800:]}")
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return elapsed, done.stdout, cpu


def stages(stdout: str) -> dict[str, float]:
    """The longest task of each stage, from `--json`'s finished-task events."""
    out: dict[str, float] = {}
    for line in stdout.splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("stage") and record.get("event") == "end":
            stage = record["stage"]
            out[stage] = max(out.get(stage, 0.0), float(record.get("seconds", 0.0)))
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--peer", default="/work/main")
    parser.add_argument("--megabytes", type=int, default=50)
    parser.add_argument("--receive", action="store_true",
                        help="the ship's target side alone against ssh cat")
    parser.add_argument("--hosts", type=int, default=3, help="the first N test hosts")
    args = parser.parse_args()
    hs, (bed, targets) = hosts()
    hs, targets = hs[:args.hosts], targets[:args.hosts]
    big = otter.tarball(WORK / "app", args.megabytes)
    # byte code for both, as an installed otter has (this machine sets
    # PYTHONDONTWRITEBYTECODE), kept under WORK: neither checkout is written to
    for checkout in (ROOT, Path(args.peer)):
        subprocess.run([sys.executable, "-m", "compileall", "-q", str(checkout / "otterfile")],
                       check=True, env={**os.environ, "PYTHONPYCACHEPREFIX": str(PYCACHE)})
    if args.receive:
        return receive_only(hs, targets, big, args)
    project = otter.systemd_project(WORK / "otter", hs, big)
    ssh = [sh(h.ssh_argv()) for h in hs]
    hand = parallel([
        f"{s} 'rm -rf /srv/hand && mkdir -p /srv/hand && tar -xzf - -C /srv/hand' < {big[0]}"
        f" && {s} 'systemctl stop {UNIT} 2>/dev/null; systemd-run --quiet --unit {UNIT} "
        f"--collect -p WorkingDirectory=/srv/hand python3 server.py --port 18080'"
        for s in ssh])
    cat = parallel([f"{s} 'cat > /tmp/otter-bench-cat' < {big[0]}" for s in ssh])
    for side in ("mine", "peer"):  # each otter's own kept masters
        (WORK / f"run-{side}").mkdir(parents=True, exist_ok=True)
    mine = {"PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": str(WORK / "run-mine"),
            "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    peer = {"PYTHONPATH": args.peer, "XDG_RUNTIME_DIR": str(WORK / "run-peer"),
            "PYTHONPYCACHEPREFIX": str(PYCACHE)}
    deploy = otter.argv(project, "--json", "run", "production")
    cases = [("by hand", hand, None), ("ssh cat", cat, None),
             ("otter (this branch)", deploy, mine), ("otter (peer)", deploy, peer)]
    times: dict[str, list[float]] = {name: [] for name, _, _ in cases}
    stage_times: dict[str, dict[str, list[float]]] = {}
    cpus: dict[str, list[tuple[float, float]]] = {}  # (controller, the 3 targets) CPU seconds
    containers = [t.container for t in targets]
    for round_ in range(args.rounds + 1):
        # the two otters take turns going first: neither always follows the other's load
        for name, argv, env in cases[:2] + cases[2:][::1 if round_ % 2 else -1]:
            bed.reset(targets)
            subprocess.run(parallel([f"{s} 'systemctl stop {UNIT}'" for s in ssh]),
                           capture_output=True)
            on_targets = cpu_of(containers)
            elapsed, stdout, here = timed(argv, env)
            on_targets = cpu_of(containers) - on_targets
            if round_ == 0:
                continue
            times[name].append(elapsed)
            cpus.setdefault(name, []).append((here, on_targets))
            for stage, seconds in stages(stdout).items():
                stage_times.setdefault(name, {}).setdefault(stage, []).append(seconds)
        load = Path("/proc/loadavg").read_text().split()[:3]
        print(f"round {round_}{' (warm-up)' if round_ == 0 else ''}: load {' '.join(load)}; "
              + ", ".join(f"{n} {times[n][-1]:.2f}" for n, _, _ in cases if round_ and times[n]),
              flush=True)
    floor = statistics.median(times["by hand"])
    upload = statistics.median(times["ssh cat"])
    for name, _, _ in cases:
        m = statistics.median(times[name])
        print(f"{name:22s} median {m:.2f} s (min {min(times[name]):.2f}, max "
              f"{max(times[name]):.2f}); {m / floor:.2f}x by hand, {m / upload:.2f}x ssh cat;"
              f" CPU s here {statistics.median(c for c, _ in cpus[name]):.2f}, on the "
              f"targets {statistics.median(t for _, t in cpus[name]):.2f}")
        for stage, values in sorted(stage_times.get(name, {}).items()):
            print(f"    {stage:10s} {statistics.median(values):.2f} s "
                  f"({min(values):.2f}-{max(values):.2f})")
    return 0


RECEIVE_LINE = """
import sys
from pathlib import Path
from otterfile.commands import lock, store
from otterfile.transfer.unpacked import on_arrival
path, digest = Path(sys.argv[1]), "sha256:" + sys.argv[2]
receive = store.receive(digest, store=sys.argv[3], unpack=on_arrival(path))
print(lock.guarded(receive, "otter-bench-recv", "bench-run").shell_line())
"""
RECEIVE_STORE = "/var/lib/otter-bench-recv"


def receive_line(checkout: str, big: tuple[Path, str]) -> str:
    """The guarded receive the ship of `checkout` runs on a target, as one shell line."""
    return subprocess.run([sys.executable, "-c", RECEIVE_LINE, str(big[0]), big[1],
                           RECEIVE_STORE], capture_output=True, text=True, check=True, cwd=WORK,
                          env={**os.environ, "PYTHONPATH": checkout}).stdout.strip()


def receive_only(hs: list[Host], targets: list[object], big: tuple[Path, str],
                 args: argparse.Namespace) -> int:
    ssh = [sh(h.ssh_argv()) for h in hs]
    cases = [("ssh cat", "cat > /tmp/otter-bench-cat")]
    cases += [(name, receive_line(checkout, big)) for name, checkout in
              (("receive (this branch)", str(ROOT)), ("receive (peer)", args.peer))]
    clean = parallel([f"{s} 'rm -rf {RECEIVE_STORE} /tmp/otter-bench-cat'" for s in ssh])
    containers = [t.container for t in targets]  # type: ignore[attr-defined]
    times: dict[str, list[float]] = {name: [] for name, _ in cases}
    cpus: dict[str, list[float]] = {name: [] for name, _ in cases}
    for round_ in range(args.rounds + 1):
        for name, line in cases if round_ % 2 else cases[:1] + cases[1:][::-1]:
            subprocess.run(clean, capture_output=True, check=True)
            argv = parallel([f"{s} {shlex.quote(line)} < {big[0]}" for s in ssh])
            on_targets = cpu_of(containers)
            elapsed, _, _ = timed(argv)
            if round_:
                times[name].append(elapsed)
                cpus[name].append(cpu_of(containers) - on_targets)
        load = Path("/proc/loadavg").read_text().split()[:3]
        print(f"round {round_}{' (warm-up)' if round_ == 0 else ''}: load {' '.join(load)}; "
              + ", ".join(f"{n} {times[n][-1]:.2f}" for n, _ in cases if round_), flush=True)
    subprocess.run(clean, capture_output=True, check=True)
    floor = statistics.median(times["ssh cat"])
    for name, _ in cases:
        m = statistics.median(times[name])
        print(f"{name:22s} median {m:.2f} s (min {min(times[name]):.2f}, max "
              f"{max(times[name]):.2f}); {m / floor:.2f}x ssh cat; CPU s on the targets "
              f"{statistics.median(cpus[name]):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""W5's one-layer change side by side on the 3 test hosts of OTTER_TESTBED_SLOT: the by-hand
full resend (`docker save | ssh docker load; ssh docker run`, as bench/workloads.py) of
the same one-layer change (a www layer no host has; and, as a second row, of an image the
hosts have already, whose load stores nothing: what this script measured before), this
checkout's otter and another checkout's (`--peer /work/main`), interleaved round by round
after a warm-up (the otters' order swapped every other round), each otter run a one-layer
change: the app's www says the version, the otter and the round, so its layer is on no host
yet and the ship sends it (before 2026-12-04 the otters' images were the by-hand case's
v1/v2, already loaded: the ship sent nothing); built before the timed run, so the acquire's
`docker build` is a hit of Docker's layer cache. On the test hosts' vfs storage the
engine stores a new layer as a copy of the image below it, a container as two copies. Each otter has a deployment of its own on the
hosts (own state, releases and domain). Prints medians, the stage times (`--json`, longest
host) and the load average.

    OTTER_TESTBED_SLOT=2 python3 -m tests.testbed up
    # or the hosts' engines on overlay2, as a real server's (vfs copies layers):
    OTTER_TESTBED_SLOT=2 OTTER_TESTBED_DOCKER_STORAGE=overlay2 python3 -m tests.testbed up
    OTTER_TESTBED_SLOT=2 python3 -m bench.w5_layer --rounds 5 --peer /work/main
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from .cases import parallel, sh
from .runner import DOCKER_OTTERFILE, app_tree as runner_app_tree
from .side_by_side import loadavg, testbed_hosts

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".out" / "w5-layer"
HAND = "otter-bench-hand"  # the by-hand case's image of each round
HAD = "by hand, an image the hosts have (no layer stored)"
# the change's `docker build` timed too, as otter's acquire runs one (a hit of Docker's
# cache there, whose legacy builder still sends the whole context to the engine)
BUILT = "by hand, its docker build included"


def app_tree(folder: Path, version: str) -> None:
    """The bench's W5 app (bench/runner.py): busybox, a 28 MB blob, www saying `version`."""
    WORK.mkdir(parents=True, exist_ok=True)
    runner_app_tree(folder, version, WORK)


def build(folder: Path, tag: str) -> None:
    subprocess.run(["docker", "build", "-q", "-t", tag, str(folder)], check=True,
                   capture_output=True)


def otter_case(hosts, name: str, domain: str, checkout: Path):
    folder = WORK / f"otter-{name}"
    app_tree(folder / "app", "v1")
    path = folder / "Otterfile.py"
    path.write_text(DOCKER_OTTERFILE.format(
        hosts=[(f"root@127.0.0.1:{h.port}", h.key, h.known_hosts) for h in hosts])
        .replace("def production():", f"def {name}():").replace("bench.test", domain))
    argv = [sys.executable, "-m", "otterfile", "-f", str(path), "--json", "run", name]
    return path, argv, {"PYTHONPATH": str(checkout)}


def run(argv: list[str], env: dict[str, str],
        cwd: Path = WORK) -> tuple[float, dict[str, float]]:
    """Wall seconds and stage times; run outside any checkout (`python -m` puts the working
    folder first on sys.path, before PYTHONPATH)."""
    began = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env}, cwd=cwd)
    took = time.perf_counter() - began
    if done.returncode != 0:
        raise SystemExit(f"{sh(argv)[:200]} exited {done.returncode}:\n{done.stdout[-3000:]}"
                         f"{done.stderr[-2000:]}")
    stages: dict[str, float] = {}
    for line in done.stdout.splitlines():
        event = json.loads(line) if line.startswith("{") else {}
        if event.get("event") == "end" and event.get("stage"):
            stages[event["stage"]] = max(stages.get(event["stage"], 0), event["seconds"])
    return took, stages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--peer", type=Path, help="another checkout's otter (e.g. /work/main)")
    args = parser.parse_args()
    hosts = testbed_hosts(3)
    WORK.mkdir(parents=True, exist_ok=True)
    images = {}
    for version in ("v1", "v2"):
        app_tree(WORK / f"image-{version}", version)
        build(WORK / f"image-{version}", f"otter-bench-app:{version}")
        images[version] = f"otter-bench-app:{version}"
    by_hand = lambda tag: parallel([  # noqa: E731  (as bench/workloads.py w4_w5)
        f"docker save {tag} | {sh(h.ssh_argv())} docker load >/dev/null && "
        f"{sh(h.ssh_argv())} 'docker rm -f bench-hand >/dev/null 2>&1; docker run -d --name "
        f"bench-hand --label otter.deployment=bench -p 127.0.0.1:29997:8080 {tag}' >/dev/null"
        for h in hosts])
    otters = {"otter (this checkout)": otter_case(hosts, "layer", "layer.test", ROOT)}
    if args.peer:
        otters[f"otter ({args.peer})"] = otter_case(hosts, "peer", "peer.test", args.peer)
    times: dict[str, list[float]] = {"by hand": [], BUILT: [], HAD: [],
                                     **{k: [] for k in otters}}
    stages: dict[str, list[dict[str, float]]] = {k: [] for k in otters}
    before = loadavg()
    run_id = time.strftime("%Y%m%dT%H%M%S")  # a later invocation's layers are new too
    for round_ in range(args.rounds + 1):  # round 0: the warm-up (first deploys), untimed
        version = ("v1", "v2")[round_ % 2]
        # by hand, the same change: a www layer no host has, built untimed, the whole
        # image sent; the engine stores the new layer, as otter's load does
        app_tree(WORK / "image-hand", f"{version} hand {run_id} {round_}")
        began = time.perf_counter()
        build(WORK / "image-hand", f"{HAND}:{round_}")
        built = time.perf_counter() - began
        took, _ = run(by_hand(f"{HAND}:{round_}"), {})
        if round_:
            times["by hand"].append(took)
            times[BUILT].append(built + took)
            run(parallel([f"{sh(h.ssh_argv())} docker image rm {HAND}:{round_ - 1} >/dev/null"
                          for h in hosts]), {})  # untimed: the hosts' disks
            subprocess.run(["docker", "image", "rm", f"{HAND}:{round_ - 1}"],
                           capture_output=True)
        took, _ = run(by_hand(images[version]), {})  # an image the hosts have already
        if round_:
            times[HAD].append(took)
        order = list(otters.items())  # each otter first every other round: the by-hand
        for name, (path, argv, env) in order[::-1] if round_ % 2 else order:  # load's wake
            # a www no host has: the ship sends that one layer; built now, so the acquire's
            # `docker build` is a hit of Docker's cache
            app_tree(path.parent / "app", f"{version} {path.parent.name} {run_id} {round_}")
            build(path.parent / "app", "otter-bench-app:latest")
            took, seen = run(argv, env)
            if round_:
                times[name].append(took)
                stages[name].append(seen)
            print(f"  {name}: {took:.2f} s {seen}", file=sys.stderr)
        print(f"round {round_}: load {loadavg()}", file=sys.stderr)
    after = loadavg()
    floor = statistics.median(times["by hand"])
    print(f"load average before: {before}; after: {after}; {args.rounds} rounds after a "
          "warm-up, interleaved")
    print("| case | median | min - max | x by hand |")
    print("| --- | --- | --- | --- |")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"| {name} | {median:.2f} s | {min(values):.2f} - {max(values):.2f} s | "
              f"{median / floor:.2f}x |")
    for name, seen in stages.items():
        keys = list(dict.fromkeys(k for s in seen for k in s))
        print(f"{name} stages (median of the longest host): " + ", ".join(
            f"{k} {statistics.median(s.get(k, 0) for s in seen):.2f}" for k in keys))


if __name__ == "__main__":
    main()

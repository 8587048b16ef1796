"""Cold fleets (issue 25, goals 1 and 6): `otter exec -- true` on many bare sshd hosts
against parallel OpenSSH with the same options and pyinfra, the start cap, and the
controller's peak memory per target.

    python3 -m bench.fleet                        # FLEET, CAP and MEM on 50 hosts
    python3 -m bench.fleet -w FLEET --hosts 50,100 --rounds 5
    python3 -m bench.fleet -w MEM --hosts 1,10,50 --keep

FLEET: each round runs every case once, in turn (a load spike hits every tool alike), after
one untimed warm-up round: parallel `ssh true` with OpenSSH's default key exchange and with
curve25519-sha256 (also with otter's own options: ControlMaster=auto and ControlPersist, as
its first command to a host runs), `otter exec` cold (its kept masters ended before each
run) with the default and with `ssh(kex="curve25519-sha256")`, warm, and pyinfra (paramiko:
curve25519). CAP: the cold curve25519 `otter exec` with OTTER_SSH_STARTS at several values.
MEM: the peak memory of the otter process (its resident high-water mark) and of the whole process
tree (otter and its ssh clients and masters: proportional set size, sampled), on each host
count; the per-target figure is the slope between the smallest and the largest count.

The hosts are bench/hosts.py's `sshd` kind (bench-sshd, 127.0.0.1:2351-2450), started if
needed and taken down at the end unless --keep; `--prefix NAME --first-port N` makes them a
compose project NAME of their own on 127.0.0.1:N... (and NAME in the masters' folders), so two
benches can run beside each other. `--peer DIR` adds another checkout's otter (say main's,
`git -C /work/main archive main | tar -x -C DIR`) as a cold curve25519 case, in the same
rounds; `--venv` adds this otter run by a venv's python (otter's dependencies only, as
pyinfra runs from bench/.venv: no .pth files of this machine's site-packages); `--only
WORDS` keeps the FLEET cases whose name has one of the comma-separated WORDS (fewer
processes on a shared machine); `--command` is what every case runs (default `true`).
Results go into bench/RESULTS.md between `<!-- section:cold-fleet -->` markers, and
bench/.out/fleet.json.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from .cases import Case, parallel, sh
from .hosts import BenchBed, Host
from .report import replace_section
from .stats import Measured, seconds, table
from . import otter_side as otter

HERE = Path(__file__).resolve().parent
WORK = HERE / ".out" / "fleet"
CURVE = "curve25519-sha256"
CAPS = (8, 16, 32, 64, 128)
PREFIX = [""]  # --prefix: in the masters' folders, apart from another bench's
COMMAND = ["true"]  # --command, split
OTTERFILE = '''from otterfile import *

HOSTS = {hosts!r}

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known, kex={kex!r})
            for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=registry("registry.invalid/app:1"), runtime=docker(port=80),
                      targets=[servers])
'''


def project(hosts: list[Host], kex: str | None) -> Path:
    """An Otterfile whose one deployment targets `hosts`, offering `kex`."""
    folder = WORK / f"otter-{len(hosts)}-{kex or 'default'}"
    folder.mkdir(parents=True, exist_ok=True)
    entries = [(f"root@127.0.0.1:{h.port}", h.key, h.known_hosts) for h in hosts]
    (folder / "Otterfile.py").write_text(OTTERFILE.format(hosts=entries, kex=kex))
    return folder / "Otterfile.py"


def masters_folder(name: str) -> Path:
    """A private XDG_RUNTIME_DIR for one case's kept masters (short: socket paths)."""
    folder = Path(f"/tmp/otter-fleet-{PREFIX[0]}{name}")
    folder.mkdir(mode=0o700, exist_ok=True)
    return folder


def pyinfra_inventory(hosts: list[Host]) -> Path:
    entries = [(h.name, {"ssh_hostname": "127.0.0.1", "ssh_port": h.port, "ssh_user": "root",
                         "ssh_key": h.key, "ssh_known_hosts_file": h.known_hosts,
                         "ssh_strict_host_key_checking": "yes"}) for h in hosts]
    path = WORK / f"inventory-{len(hosts)}.py"
    path.write_text(f"hosts = {entries!r}\n")
    return path


def pyinfra() -> str:
    return str(HERE / ".venv" / "bin" / "pyinfra")


def otter_case(m: Measured, hosts: list[Host], kex: str | None, name: str,
               cold: bool = True, peer: Path | None = None, python: str | None = None,
               **env: str) -> Case:
    run = masters_folder(name)
    # PYTHONSAFEPATH: `-m` would put the working folder (this checkout) before the peer's
    code = {"PYTHONPATH": str(peer), "PYTHONSAFEPATH": "1"} if peer else otter.env()
    argv = otter.argv(project(hosts, kex), "exec", "production", "--", *COMMAND)
    return Case(m, [python, *argv[1:]] if python else argv,
                env={**code, "XDG_RUNTIME_DIR": str(run), **env},
                setup=(lambda: otter.end_masters(run / "otter-ssh")) if cold else None)


def fleet_cases(hosts: list[Host], peer: Path | None = None,
                venv: str | None = None) -> list[Case]:
    n, W = len(hosts), "cold fleet"
    control = WORK / "cm"
    control.mkdir(exist_ok=True)

    def like_otter(h: Host) -> list[str]:  # the options otter adds, a master made as it runs
        return h.ssh_argv("-o", "ConnectTimeout=15", "-o", "ServerAliveInterval=15",
                          "-o", "ServerAliveCountMax=4", "-o", f"KexAlgorithms={CURVE}",
                          "-o", "ControlMaster=auto", "-o", "ControlPersist=60",
                          "-o", f"ControlPath={control}/{h.port}")

    def end_like_otter() -> None:
        subprocess.run(parallel([sh(like_otter(h)[:-1] + ["-O", "exit", "x"]) + " || true"
                                 for h in hosts]), capture_output=True, timeout=120)
    command = " " + sh(COMMAND)
    peers = [otter_case(Measured(W, f"peer {peer}: otter exec, cold (kex={CURVE})", n),
                        hosts, CURVE, "peer", peer=peer),
             otter_case(Measured(W, f"peer {peer}: otter exec, warm (kex={CURVE})", n),
                        hosts, CURVE, "peerwarm", cold=False, peer=peer,
                        OTTER_SSH_PERSIST="600"),
             ] if peer else []
    peers += [otter_case(Measured(W, f"venv: otter exec, cold (kex={CURVE}), a venv's python",
                                  n), hosts, CURVE, "venv", python=venv)] if venv else []
    return peers + [
        Case(Measured(W, "OpenSSH: parallel ssh true (default kex)", n, floor=True),
             parallel([sh(h.ssh_argv()) + command for h in hosts])),
        otter_case(Measured(W, "otter exec -- true, cold (default kex)", n), hosts, None,
                   "default"),
        Case(Measured(W, f"OpenSSH: parallel ssh true ({CURVE})", n),
             parallel([sh(h.ssh_argv("-o", f"KexAlgorithms={CURVE}")) + command
                       for h in hosts])),
        Case(Measured(W, f"OpenSSH: as otter runs it ({CURVE}, ControlMaster=auto, "
                         "ControlPersist)", n),
             parallel([sh(like_otter(h)) + command for h in hosts]), setup=end_like_otter),
        otter_case(Measured(W, f"otter exec -- true, cold (kex={CURVE})", n), hosts, CURVE,
                   "curve"),
        Case(Measured(W, "pyinfra -y exec -- true (paramiko: curve25519)", n),
             [pyinfra(), "-y", str(pyinfra_inventory(hosts)), "exec", "--", *COMMAND]),
        # kept 600 s: at 100 hosts a round takes longer than the default 60
        otter_case(Measured(W, f"otter exec -- true, warm (kex={CURVE}, kept masters)", n),
                   hosts, CURVE, "warm", cold=False, OTTER_SSH_PERSIST="600"),
    ]


def cap_cases(hosts: list[Host]) -> list[Case]:
    n = len(hosts)
    return [otter_case(Measured("start cap", f"OTTER_SSH_STARTS={cap}", n), hosts, CURVE,
                       f"cap{cap}", OTTER_SSH_STARTS=str(cap)) for cap in CAPS if cap <= 2 * n]


def loadavg() -> str:
    return " ".join(open("/proc/loadavg").read().split()[:3])


def rounds(cases: list[Case], count: int) -> None:
    """A warm-up round, then `count` rounds of every case in turn."""
    for number in range(count + 1):
        for case in cases:
            try:
                case.once(keep=number > 0)
            except (RuntimeError, subprocess.TimeoutExpired) as error:
                case.measured.error = str(error)
        print(f"  round {number}/{count}, load {loadavg()}", file=sys.stderr, flush=True)
    for case in cases:  # each round's time, in order: ratios within a round say more
        print(f"  {case.measured.case}: " + " ".join(f"{v:.3f}" for v in case.measured.values),
              file=sys.stderr, flush=True)


# -- memory ---------------------------------------------------------------------------------

def tree_pss(pid: int) -> int:
    """Proportional set size in kB of `pid` and every process below it (ssh clients and
    masters): shared pages (libc, libcrypto) are counted once over the processes sharing
    them, not once per process as resident sizes would be."""
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat") as stat:
                    parent = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(entry.name))
    total, todo = 0, [pid]
    while todo:
        one = todo.pop()
        todo += children.get(one, [])
        try:
            with open(f"/proc/{one}/smaps_rollup") as rollup:
                total += next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
        except (OSError, StopIteration, ValueError):
            continue
    return total


def high_water(pid: int) -> int:
    """The peak resident kB of `pid` so far (VmHWM), 0 once it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return 0


def peak_memory(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(seconds, the process's own peak RSS in MB, its tree's peak PSS in MB, sampled)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    peak, own, done = [0], [0], threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], tree_pss(process.pid))
            own[0] = max(own[0], high_water(process.pid))
            done.wait(0.1)
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    process.wait()
    done.set()
    sampler.join()
    if process.returncode != 0:
        raise RuntimeError(f"{argv[-4:]} exited {process.returncode}")
    # not wait4's ru_maxrss: it is the largest of the process and its children, and a child
    # made by fork() carries the parent's size at the fork into it
    return time.perf_counter() - started, own[0] / 1024, peak[0] / 1024


def memory(bed: BenchBed, counts: list[int], count_rounds: int) -> list[list[str]]:
    rows, found = [], {}
    for n in counts:
        hosts = bed.hosts(bed.targets()[:n])
        run = masters_folder(f"mem{n}")
        cases = {
            "otter exec (cold)": (otter.argv(project(hosts, CURVE), "exec", "production",
                                             "--", "true"),
                                  {**otter.env(), "XDG_RUNTIME_DIR": str(run)}, True),
            "otter exec (warm)": (otter.argv(project(hosts, CURVE), "exec", "production",
                                             "--", "true"),
                                  {**otter.env(), "XDG_RUNTIME_DIR": str(run)}, False),
            "pyinfra exec": ([pyinfra(), "-y", str(pyinfra_inventory(hosts)), "exec", "--",
                              "true"], {}, False)}
        for name, (argv, env, cold) in cases.items():
            values = []
            for _ in range(count_rounds):
                if cold:
                    otter.end_masters(run / "otter-ssh")
                values.append(peak_memory(argv, env))
            own = sorted(v[1] for v in values)[len(values) // 2]
            tree = sorted(v[2] for v in values)[len(values) // 2]
            found[(name, n)] = (own, tree)
            rows.append([name, str(n), f"{own:.1f}", f"{tree:.1f}"])
        otter.end_masters(run / "otter-ssh")
    low, high = min(counts), max(counts)
    if low != high:
        for name in dict.fromkeys(k for k, _ in found):
            (own_low, tree_low), (own_high, tree_high) = found[(name, low)], found[(name, high)]
            rows.append([f"{name}: per target ({low} to {high} hosts)", "",
                         f"{(own_high - own_low) / (high - low):.2f}",
                         f"{(tree_high - tree_low) / (high - low):.2f}"])
    return rows


# -- report ---------------------------------------------------------------------------------

def timing_rows(items: list[Measured]) -> list[list[str]]:
    rows = []
    for m in items:
        spread = f"{seconds(min(m.values))} – {seconds(max(m.values))}" if m.values else "-"
        rows.append([m.case, str(m.hosts), seconds(m.median), spread, str(len(m.values)),
                     f"FAILED: {m.error[:120]}" if m.error else ""])
    return rows


def ratios(items: list[Measured]) -> list[list[str]]:
    """The goal's comparisons, per host count."""
    def median(n: int, start: str) -> float | None:
        found = [m.median for m in items if m.hosts == n and m.case.startswith(start)]
        return found[0] if found and found[0] else None
    rows = []
    for n in sorted({m.hosts for m in items}):
        pairs = [("otter cold default kex / OpenSSH default kex",
                  "otter exec -- true, cold (default", "OpenSSH: parallel ssh true (default"),
                 (f"otter cold {CURVE} / OpenSSH {CURVE}", "otter exec -- true, cold (kex",
                  f"OpenSSH: parallel ssh true ({CURVE})"),
                 (f"otter cold {CURVE} / OpenSSH as otter runs it",
                  "otter exec -- true, cold (kex", "OpenSSH: as otter"),
                 (f"otter cold {CURVE} / pyinfra", "otter exec -- true, cold (kex", "pyinfra"),
                 ("otter warm / pyinfra", "otter exec -- true, warm", "pyinfra")]
        for label, top, bottom in pairs:
            a, b = median(n, top), median(n, bottom)
            rows.append([label, str(n), f"{a / b:.2f}x" if a and b else "-"])
    return rows


def write(report: dict) -> None:
    parts = ["## Cold fleets (issue 25: bench/fleet.py)\n",
             f"`python3 -m bench.fleet {report['args']}` on {report['date']}: "
             f"{report['rounds']} timed rounds after a warm-up, every case once per round in "
             "turn; wall time of the whole command. Hosts: bare `sshd -D` containers on this "
             "machine, so every sshd shares its 2 cores with the clients. Load average "
             f"(1, 5, 15 min) at start `{report['load_start']}`, at end "
             f"`{report['load_end']}`.\n"]
    if report["fleet"]:
        parts += [table(["case", "hosts", "median", "min – max", "rounds", ""],
                        report["fleet"]), "", table(["ratio", "hosts", ""], report["ratios"]),
                  ""]
    if report["cap"]:
        parts += ["Connection starts in flight (`OTTER_SSH_STARTS`), cold, curve25519:\n",
                  table(["cap", "hosts", "median", "min – max", "rounds", ""], report["cap"]),
                  ""]
    if report["memory"]:
        parts += ["Peak resident memory of the controller, MB (median of "
                  f"{report['rounds']}); `process`: the otter (or pyinfra) process itself "
                  "(its peak resident size, VmHWM, sampled); `tree`: it and its ssh clients and masters "
                  "(proportional set size, shared pages counted once), sampled every "
                  "100 ms:\n",
                  table(["what", "hosts", "process MB", "tree MB (PSS)"], report["memory"]),
                  ""]
    replace_section(HERE / "RESULTS.md", "cold-fleet", "\n".join(parts))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m bench.fleet", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-w", "--workloads", default="FLEET,CAP,MEM")
    parser.add_argument("--hosts", default="50", help="host counts, comma separated")
    parser.add_argument("--mem-hosts", default="1,10,50")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--keep", action="store_true", help="leave the hosts up")
    parser.add_argument("--prefix", help="hosts of one's own: their compose project")
    parser.add_argument("--first-port", type=int, help="with --prefix: the first host's sshd")
    parser.add_argument("--peer", type=Path, help="another checkout's otter, cold, as a case")
    parser.add_argument("--only", help="FLEET cases whose name has one of these words")
    parser.add_argument("--command", default="true", help="what every case runs")
    parser.add_argument("--venv", action="store_true",
                        help="this otter from a venv's python too (side_by_side's venv)")
    args = parser.parse_args(argv)
    PREFIX[0] = f"{args.prefix}-" if args.prefix else ""
    COMMAND[:] = args.command.split()
    chosen = set(args.workloads.upper().split(","))
    counts = [int(n) for n in args.hosts.split(",")]
    mem_counts = [int(n) for n in args.mem_hosts.split(",")]
    WORK.mkdir(parents=True, exist_ok=True)
    from tests.testbed.images import ensure_images
    bed = BenchBed(HERE / ".out", "sshd", ensure_images(), args.prefix, args.first_port)
    otter.compiled()
    if args.peer:
        import compileall
        compileall.compile_dir(str(args.peer / "otterfile"), quiet=1)
    report: dict = {"args": " ".join(sys.argv[1:] if argv is None else argv),
                    "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                    "rounds": args.rounds, "load_start": loadavg(),
                    "fleet": [], "ratios": [], "cap": [], "memory": []}
    measured: list[Measured] = []
    try:
        bed.scale(max(counts + (mem_counts if "MEM" in chosen else [])))
        everyone = bed.hosts(bed.targets())
        for n in counts:
            hosts = everyone[:n]
            if "FLEET" in chosen:
                from .side_by_side import venv_python
                cases = fleet_cases(hosts, args.peer, venv_python() if args.venv else None)
                if args.only:
                    words = args.only.split(",")
                    cases = [c for c in cases if any(w in c.measured.case for w in words)]
                rounds(cases, args.rounds)
                measured += [c.measured for c in cases]
                report["fleet"] += timing_rows([c.measured for c in cases])
            if "CAP" in chosen:
                cases = cap_cases(hosts)
                rounds(cases, args.rounds)
                measured += [c.measured for c in cases]
                report["cap"] += timing_rows([c.measured for c in cases])
        if "MEM" in chosen:
            report["memory"] = memory(bed, mem_counts, args.rounds)
        report["ratios"] = ratios([m for m in measured if m.workload == "cold fleet"])
    finally:
        report["load_end"] = loadavg()
        if not args.keep:
            bed.down()
    (WORK / "fleet.json").write_text(json.dumps(
        {**report, "values": [vars(m) for m in measured]}, indent=1))
    write(report)
    print("\n".join(" | ".join(row) for row in report["fleet"] + report["ratios"]
                    + report["cap"] + report["memory"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

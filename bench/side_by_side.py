"""otter against its floor and pyinfra, interleaved round by round on bare sshd hosts of its own
(issue 25 goals 2 and 4): a load spike hits every case alike, and the load average is printed
with the numbers.

    python3 -m bench.side_by_side up 50          # bare sshd hosts mux-1..50, 127.0.0.1:2451...
    python3 -m bench.side_by_side exec --hosts 50 --rounds 5
    python3 -m bench.side_by_side w1 --hosts 1 --rounds 7
    python3 -m bench.side_by_side down           # removes the mux-* containers it started

exec: warm `otter exec NAME -- uname -n` (masters kept by a warm-up run) with the mux protocol
(the default) and with OTTER_SSH_MUX=0 (an ssh client per command), against `pyinfra -y exec`
(bench/.venv) and the OpenSSH floor (a kept master per host, one `ssh -S` each, in parallel).
w1: `otter run --only twenty` (20 ctx.run in a step) against the master loop of bench W1, on the
test hosts of OTTER_TESTBED_SLOT (`run` needs systemd and Caddy, which bare sshd hosts lack).

--against REF adds otter's code at git REF (extracted and compiled under bench/.out/mux) as a
case of its own: a change against its base in the same rounds. --venv adds this checkout's
otter run by a venv's python (bench/.out/mux/venv: otter's dependencies only), as pyinfra
runs from bench/.venv: no .pth files of this machine's site-packages (an editable install's
finder, a CA bundle hook) start with it.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import otter_side as otter
from .cases import parallel, sh
from .hosts import SSHD, Host

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / ".out" / "mux"
PREFIX, FIRST_PORT, MAX_HOSTS = "mux-", 2451, 50
RUNTIME = WORK / "run"  # XDG_RUNTIME_DIR of otter here: its kept masters


def image() -> str:
    sys.path.insert(0, str(ROOT))
    from tests.testbed.images import ensure_images
    return ensure_images()


def up(count: int) -> list[Host]:
    """`count` bare sshd containers named mux-N on 127.0.0.1:2451..., a key and known_hosts."""
    if not 1 <= count <= MAX_HOSTS:
        raise SystemExit(f"1 to {MAX_HOSTS} hosts")
    WORK.mkdir(parents=True, exist_ok=True)
    key = WORK / "id_ed25519"
    if not key.exists():
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)],
                       check=True)
    tag = image()

    def start(n: int) -> str:
        name = f"{PREFIX}{n}"
        running = subprocess.run(["docker", "inspect", "-f", "{{.State.Running}}", name],
                                 capture_output=True, text=True).stdout.strip()
        if running != "true":
            subprocess.run(["docker", "rm", "-f", name], capture_output=True)
            subprocess.run(["docker", "run", "-d", "--name", name, "--label", "otter.bench=mux",
                            "-p", f"127.0.0.1:{FIRST_PORT + n - 1}:22", "-v",
                            f"{key}.pub:/etc/ssh/otter_authorized_keys:ro", "--entrypoint",
                            "/bin/sh", tag, "-c", SSHD.split('"-c", "')[1].rstrip('"]')],
                           check=True, capture_output=True)
        for _ in range(300):
            pub = subprocess.run(["docker", "exec", name, "cat",
                                  "/etc/ssh/ssh_host_ed25519_key.pub"],
                                 capture_output=True, text=True).stdout.split()
            if pub:
                return f"[127.0.0.1]:{FIRST_PORT + n - 1} {pub[0]} {pub[1]}\n"
            time.sleep(0.2)
        raise SystemExit(f"{name}: no host key")
    with ThreadPoolExecutor(max_workers=8) as pool:
        lines = list(pool.map(start, range(1, count + 1)))
    (WORK / "known_hosts").write_text("".join(lines))
    hosts = host_list(count)
    for h in hosts:  # sshd answers
        for _ in range(100):
            if subprocess.run(h.ssh_argv() + ["true"], capture_output=True).returncode == 0:
                break
            time.sleep(0.2)
        else:
            raise SystemExit(f"{h.name}: sshd does not answer")
    return hosts


def down() -> None:
    names = subprocess.run(["docker", "ps", "-a", "--filter", "label=otter.bench=mux",
                            "--format", "{{.Names}}"], capture_output=True, text=True).stdout
    ours = [n for n in names.split() if n.startswith(PREFIX)]
    if ours:
        subprocess.run(["docker", "rm", "-f", *ours], capture_output=True)
    print(f"removed {len(ours)} containers")


def host_list(count: int) -> list[Host]:
    return [Host(f"{PREFIX}{n}", FIRST_PORT + n - 1, 0, str(WORK / "id_ed25519"),
                 str(WORK / "known_hosts")) for n in range(1, count + 1)]


def testbed_hosts(count: int) -> list[Host]:
    """The first `count` test hosts of this slot (systemd and Caddy, which `run` needs):
    `python3 -m tests.testbed up` first, with OTTER_TESTBED_SLOT set."""
    slot = int(os.environ.get("OTTER_TESTBED_SLOT", "0"))
    folder = Path(f"/var/tmp/otter-testbed-{slot}")
    return [Host(f"target{n}", 2200 + 10 * slot + n, 0, str(folder / "id_ed25519"),
                 str(folder / "known_hosts")) for n in range(1, count + 1)]


def loadavg() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


class HostsCPU:
    """CPU seconds the bench's own containers used so far (cgroup v1 cpuacct, else v2
    cpu.stat): what a command costs the hosts, a figure load on the machine changes less."""

    def __init__(self, names: list[str]) -> None:
        ids = subprocess.run(["docker", "inspect", "-f", "{{.Id}}", *names],
                             capture_output=True, text=True).stdout.split()
        self.files = [f for f in (_usage_file(i) for i in ids) if f is not None]

    def seconds(self) -> float | None:
        if not self.files:
            return None
        total = 0.0
        for path in self.files:
            text = path.read_text()
            if path.name == "cpu.stat":  # usage_usec N
                total += int(text.split("usage_usec")[1].split()[0]) / 1e6
            else:
                total += int(text) / 1e9
        return total


def _usage_file(container: str) -> Path | None:
    for path in (Path(f"/sys/fs/cgroup/cpuacct/docker/{container}/cpuacct.usage"),
                 Path(f"/sys/fs/cgroup/system.slice/docker-{container}.scope/cpu.stat"),
                 Path(f"/sys/fs/cgroup/docker/{container}/cpu.stat")):
        if path.exists():
            return path
    return None


def timed(argv: list[str], env: dict[str, str], cpu: list[float] | None = None,
          hosts: HostsCPU | None = None, host_cpu: list[float] | None = None) -> float:
    """Wall seconds of `argv` as one process; its CPU seconds (user and system, its waited-for
    children included) appended to `cpu`, the hosts' to `host_cpu`: figures load on the
    machine changes less."""
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    on_hosts = hosts.seconds() if hosts else None
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, timeout=600,
                          env={**os.environ, **env})
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if cpu is not None:
        cpu.append(after.ru_utime - used.ru_utime + after.ru_stime - used.ru_stime)
    if hosts and on_hosts is not None and host_cpu is not None:
        host_cpu.append((hosts.seconds() or 0.0) - on_hosts)
    if done.returncode != 0:
        raise SystemExit(f"{sh(argv)[:200]} exited {done.returncode}:\n"
                         f"{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return elapsed


def compare(cases: dict[str, tuple[list[str], dict[str, str]]], rounds: int,
            floor: str, peer: str | None, hosts: HostsCPU | None = None) -> None:
    """Every case once untimed, then `rounds` rounds of all cases in turn; a table (with
    the hosts' CPU seconds per run when `hosts` can read them)."""
    for argv, env in cases.values():
        timed(argv, env)
    before, times = loadavg(), {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}
    host_cpu: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(rounds):
        for name, (argv, env) in cases.items():
            times[name].append(timed(argv, env, cpu[name], hosts, host_cpu[name]))
    after = loadavg()
    medians = {name: statistics.median(values) for name, values in times.items()}
    on_hosts = all(host_cpu.values())
    print(f"load average before: {before}; after: {after}; {rounds} rounds, interleaved")
    print(f"| case | median | min - max | x floor |{' x ' + peer + ' |' if peer else ''}"
          f" CPU (median) |{' hosts CPU (median) |' if on_hosts else ''}")
    print(f"| --- | --- | --- | --- |{' --- |' if peer else ''} --- |{' --- |' if on_hosts else ''}")
    for name, values in times.items():
        ratio = medians[name] / medians[floor]
        versus = f" {medians[name] / medians[peer]:.2f}x |" if peer else ""
        remote = f" {statistics.median(host_cpu[name]):.3f} s |" if on_hosts else ""
        print(f"| {name} | {medians[name]:.3f} s | {min(values):.3f} - {max(values):.3f} s "
              f"| {ratio:.2f}x |{versus} {statistics.median(cpu[name]):.3f} s |{remote}")


def otter_env(**extra: str) -> dict[str, str]:
    return {**otter.env(), "XDG_RUNTIME_DIR": str(RUNTIME), "OTTER_SSH_PERSIST": "600",
            **extra}


def code_at(ref: str) -> Path:
    """otter's package at git `ref`, extracted (and compiled) into a folder of its own."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", ref],
                            capture_output=True, text=True, check=True).stdout.strip()
    folder = WORK / f"code-{commit}"
    if not (folder / "otterfile").exists():
        folder.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit, "otterfile"],
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
        import compileall
        compileall.compile_dir(str(folder / "otterfile"), quiet=1)
    return folder


def venv_python() -> str:
    """A venv's python with otter's dependencies (made once, from the configured index)."""
    folder = WORK / "venv"
    python = folder / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "click>=8.1", "docker>=6.0",
                        "httpx>=0.24", "jinja2>=3.1", "rich>=13"], check=True)
    return str(python)


def variants(otterfile: Path, args: list[str], against: str | None,
             venv: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    """The extra otter cases --against and --venv ask for."""
    cases = {}
    if against:
        folder = code_at(against)
        cases[f"otter {args[0]}, mux, code of {folder.name[5:]} ({against})"] = (
            otter.argv(otterfile, *args),  # PYTHONSAFEPATH: `-m` puts no cwd (ROOT) first
            otter_env(PYTHONPATH=str(folder), PYTHONSAFEPATH="1"))
    if venv:
        argv = otter.argv(otterfile, *args)
        cases[f"otter {args[0]}, mux, a venv's python"] = ([venv_python(), *argv[1:]],
                                                          otter_env())
    return cases


def project(hosts: list[Host], step: bool) -> Path:
    archive = otter.tarball(WORK / "app", 1)
    return otter.systemd_project(WORK / f"otter-{len(hosts)}{'-step' if step else ''}",
                                 hosts, archive, step=step)


def exec_cases(hosts: list[Host], rounds: int, against: str | None, venv: bool) -> None:
    otterfile = project(hosts, step=False)
    args = ["exec", "production", "--", "uname -n"]
    argv = otter.argv(otterfile, *args)
    sockets = WORK / "cm"
    sockets.mkdir(exist_ok=True)
    masters = [h.ssh_argv("-o", f"ControlPath={sockets}/{h.port}", "-o", "ControlMaster=auto",
                          "-o", "ControlPersist=600") + ["uname -n"] for h in hosts]
    pyinfra = str(ROOT / "bench" / ".venv" / "bin" / "pyinfra")
    from .competitors import Kit
    kit = Kit(WORK / f"kit-{len(hosts)}", hosts)
    cases = {
        "OpenSSH: kept masters, one ssh -S each, parallel (floor)":
            (parallel([f"{sh(m)} >/dev/null" for m in masters]), {}),
        "otter exec, warm, mux (default)": (argv, otter_env()),
        "otter exec, warm, OTTER_SSH_MUX=0": (argv, otter_env(OTTER_SSH_MUX="0")),
        **variants(otterfile, args, against, venv),
        "pyinfra -y exec": ([pyinfra, "-y", str(kit.pyinfra_inventory), "exec", "--",
                             "uname -n"], {}),
    }
    compare(cases, rounds, floor=next(iter(cases)), peer="pyinfra -y exec",
            hosts=HostsCPU([h.name for h in hosts]))


def w1_cases(hosts: list[Host], rounds: int, against: str | None, venv: bool) -> None:
    otterfile = project(hosts, step=True)
    work = WORK / "w1"
    work.mkdir(exist_ok=True)
    loop = []
    for h in hosts:  # as bench/workloads.py w1: a master started and ended in the timed run
        cp = str(work / f"cm-{h.port}")
        ssh = h.ssh_argv("-o", f"ControlPath={cp}")
        master = h.ssh_argv("-o", "ControlMaster=yes", "-o", f"ControlPath={cp}",
                            "-o", "ControlPersist=yes", "-f", "-N")
        loop.append(f"{sh(master)}; for i in $(seq 20); do {sh(ssh)} echo $i >/dev/null; "
                    f"done; {sh(ssh + ['-O', 'exit'])} 2>/dev/null")
    args = ["run", "production", "--only", "twenty"]
    argv = otter.argv(otterfile, *args)
    cases = {
        "OpenSSH: one ControlMaster per host, 20 calls (floor)": (parallel(loop), {}),
        "otter run --only (20 ctx.run), mux (default)": (argv, otter_env()),
        "otter run --only (20 ctx.run), OTTER_SSH_MUX=0": (argv, otter_env(OTTER_SSH_MUX="0")),
        **variants(otterfile, args, against, venv),
    }
    compare(cases, rounds, floor=next(iter(cases)), peer=None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("what", choices=["up", "down", "exec", "w1"])
    parser.add_argument("count", nargs="?", type=int, default=3)
    parser.add_argument("--hosts", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--against", metavar="REF", help="otter's code at git REF as a case too")
    parser.add_argument("--venv", action="store_true", help="otter from a venv's python too")
    args = parser.parse_args()
    if args.what == "up":
        up(args.count)
        return
    if args.what == "down":
        down()
        return
    RUNTIME.mkdir(parents=True, exist_ok=True, mode=0o700)
    otter.compiled()  # byte code, as an installed otter has
    if args.what == "w1":
        hosts = testbed_hosts(args.hosts)
        print(f"w1 on {len(hosts)} test hosts of slot {os.environ.get('OTTER_TESTBED_SLOT')}")
    else:
        hosts = host_list(args.hosts)
        print(f"exec on {len(hosts)} bare sshd hosts ({PREFIX}1..), this checkout's otter")
    (exec_cases if args.what == "exec" else w1_cases)(hosts, args.rounds, args.against,
                                                       args.venv)


if __name__ == "__main__":
    main()

"""What `otter exec NAME -- true` on three hosts costs, cold and warm, against plain ssh.

    python bench/ssh_warm.py [--runs 10] [--pyinfra PATH]

Starts a throwaway sshd (root, loopback; needs /usr/sbin/sshd) listening on 127.0.0.1,
127.0.0.2 and 127.0.0.3 (three "hosts", one machine), and prints median wall times of:
Python's start-up, `ssh host true` on one host, three of those in parallel, and the whole
`otter exec` process with a kept master (warm), without one (cold: masters ended before
each run) and with persistence off (`--no-persist`). pyinfra too, when it is on PATH or
given (`python3 -m venv /tmp/pi && /tmp/pi/bin/pip install pyinfra`, then
`--pyinfra /tmp/pi/bin/pyinfra`).

Every command here runs in root's login shell on this machine, so its ~/.bashrc (pyenv init
on the project's machines: about 80 ms) is in every figure: `python -m bench -w W7` (the
bench's own hosts) is the fairer comparison. otter's modules are byte-compiled first, as an
installed otter's are.
"""
from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ADDRESSES = ("127.0.0.1", "127.0.0.2", "127.0.0.3")
OTTERFILE = '''
from otterfile import *

@target
def three():
    return [ssh(f"root@{{a}}:{port}", identity_file={key!r}, known_hosts={known!r})
            for a in {addresses!r}]

@deployment
def production():
    return Deployment(artifact=build(path=".", command="true", image="x"),
                      runtime=docker(port=80), targets=[three])
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_sshd(folder: Path) -> tuple[subprocess.Popen, int]:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "host")],
                   check=True)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(folder / "key")],
                   check=True)
    (folder / "authorized_keys").write_text((folder / "key.pub").read_text())
    port = free_port()
    listen = "".join(f"ListenAddress {a}\n" for a in ADDRESSES)
    (folder / "sshd_config").write_text(textwrap.dedent(f"""\
        Port {port}
        HostKey {folder}/host
        PidFile {folder}/sshd.pid
        AuthorizedKeysFile {folder}/authorized_keys
        StrictModes no
        UsePAM no
        PermitRootLogin prohibit-password
        PasswordAuthentication no
        MaxStartups 100
        """) + listen)
    host_pub = (folder / "host.pub").read_text().split()[:2]
    (folder / "known_hosts").write_text("".join(f"[{a}]:{port} {' '.join(host_pub)}\n"
                                                for a in ADDRESSES))
    os.makedirs("/run/sshd", exist_ok=True)
    process = subprocess.Popen(["/usr/sbin/sshd", "-D", "-e", "-f", str(folder / "sshd_config")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):  # up to 10 s
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.1)
    process.kill()
    raise SystemExit("sshd does not listen")


def timed(run, runs: int, before=None) -> float:
    samples = []
    for _ in range(runs):
        if before:
            before()
        started = time.perf_counter()
        run()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pyinfra", default=shutil.which("pyinfra"))
    args = parser.parse_args()
    runs, pyinfra = args.runs, args.pyinfra
    if not os.path.exists("/usr/sbin/sshd") or os.geteuid() != 0:
        raise SystemExit("needs /usr/sbin/sshd and root")
    folder = Path(tempfile.mkdtemp(prefix="otb-", dir="/tmp"))  # short: socket paths
    sshd, port = start_sshd(folder)
    sockets = folder / "run"
    sockets.mkdir(mode=0o700)
    (folder / "Otterfile.py").write_text(OTTERFILE.format(
        port=port, key=str(folder / "key"), known=str(folder / "known_hosts"),
        addresses=ADDRESSES))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "XDG_RUNTIME_DIR": str(sockets)}
    ssh = ["ssh", "-i", str(folder / "key"), "-o", "IdentitiesOnly=yes", "-o", "BatchMode=yes",
           "-o", f"UserKnownHostsFile={folder / 'known_hosts'}", "-p", str(port), "-l", "root"]
    otter = [sys.executable, "-m", "otterfile", "-f", str(folder / "Otterfile.py")]

    def quiet(argv: list[str], **options) -> None:
        done = subprocess.run(argv, capture_output=True, env=env, cwd=folder, **options)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed:\n{done.stdout}{done.stderr}")

    def parallel_ssh() -> None:
        waits = [subprocess.Popen(ssh + [a, "true"], stdout=subprocess.DEVNULL)
                 for a in ADDRESSES]
        if any(p.wait() for p in waits):
            raise SystemExit("ssh failed")

    def end_masters() -> None:
        for path in (sockets / "otter-ssh").glob("*"):
            if not path.name.endswith(".lock"):
                subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "exit", "x"],
                               capture_output=True)

    cases = [
        ("python3 -c 'import click'", lambda: quiet([sys.executable, "-c", "import click"]),
         None),
        ("ssh host true (one host)", lambda: quiet(ssh + [ADDRESSES[0], "true"]), None),
        ("3 x ssh host true, parallel", parallel_ssh, None),
        ("otter exec, cold (no master)", lambda: quiet(otter + ["exec", "production", "--",
                                                                "true"]), end_masters),
        ("otter exec, warm (kept master)", lambda: quiet(otter + ["exec", "production", "--",
                                                                  "true"]), None),
        ("otter --no-persist exec", lambda: quiet(otter + ["--no-persist", "exec",
                                                           "production", "--", "true"]),
         None),
    ]
    if pyinfra:
        cases.append(("pyinfra exec true", lambda: quiet(
            [pyinfra, ",".join(ADDRESSES), "--ssh-user", "root", "--ssh-port", str(port),
             "--ssh-key", str(folder / "key"), "--data",
             f"ssh_known_hosts_file={folder / 'known_hosts'}", "-y", "exec", "--", "true"]),
            None))
    import compileall
    compileall.compile_dir(str(ROOT / "otterfile"), quiet=1)  # PYTHONDONTWRITEBYTECODE here
    try:
        quiet(otter + ["exec", "production", "--", "true"])  # known hosts, warm caches
        print(f"{'case':<34} {'median':>9}   ({runs} runs, 3 hosts on one loopback sshd)")
        for name, run, before in cases:
            if name.startswith("otter exec, warm"):
                quiet(otter + ["exec", "production", "--", "true"])
            print(f"{name:<34} {timed(run, runs, before) * 1000:7.1f}ms", flush=True)
        if not pyinfra:
            print("pyinfra: not installed (pip install pyinfra to compare)")
    finally:
        end_masters()
        sshd.send_signal(signal.SIGTERM)
        sshd.wait(10)
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()

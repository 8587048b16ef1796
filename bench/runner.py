"""The runner: the bench venv, the hosts, rounds of cases, the machine it ran on."""
from __future__ import annotations

import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

from . import otter_side
from .cases import parallel, sh
from .competitors import Kit
from .hosts import BenchBed, Host
from .stats import Measured

TOOLS = ("pyinfra", "fabric", "ansible-core", "matplotlib")
DOCKERFILE = """FROM scratch
COPY busybox /bin/busybox
COPY blob.bin /blob.bin
COPY www/ /www/
ENV PATH=/bin
LABEL otter.test=1
CMD ["/bin/busybox", "sh", "-c", "trap 'exit 0' TERM INT; busybox httpd -f -p 8080 -h /www & wait $!"]
"""


def app_tree(folder: Path, version: str, work: Path) -> None:
    """The W5 app in `folder`: busybox, a 28 MB blob (made once in `work`, then hard-linked),
    www saying `version`, DOCKERFILE."""
    (folder / "www").mkdir(parents=True, exist_ok=True)
    shutil.copy("/bin/busybox", folder / "busybox")
    blob = work / "blob-28mb.bin"
    if not blob.exists():
        blob.write_bytes(os.urandom(28 * 1024 * 1024))
    if not (folder / "blob.bin").exists():
        os.link(blob, folder / "blob.bin")
    (folder / "www" / "index.html").write_text(version + "\n")
    (folder / "www" / "health").write_text("ok\n")
    (folder / "Dockerfile").write_text(DOCKERFILE)


DOCKER_OTTERFILE = '''from otterfile import *

HOSTS = {hosts!r}

@artifact
def web():
    return build(path="app", command="docker build -q -t otter-bench-app:latest .")

@runtime
def box():
    return docker(port=8080)

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=[servers], domains=["bench.test"],
                      proxy=caddy(tls="off"), keep_releases=2,
                      health_check=HealthCheck(path="/health", timeout_seconds=20))
'''


class Runner:
    def __init__(self, work: Path, rounds: int, install: bool = True):
        self.work, self.rounds = work, rounds
        work.mkdir(parents=True, exist_ok=True)
        self.venv = work.parent / ".venv"
        if install:
            self.install()
        from tests.testbed.images import ensure_images
        image = ensure_images()
        self.beds = {kind: BenchBed(work, kind, image) for kind in ("light", "sshd", "full")}
        self.up: dict[str, int] = {}
        self.results: list[Measured] = []
        self.differences: list[tuple[Measured, Measured, Measured]] = []
        self.background_pids: list[int] = []
        self.machine = machine(self.venv)
        self.load = {"start": uptime()}
        self._tarballs: dict[int, tuple[Path, str]] = {}
        self._images: dict | None = None

    def install(self) -> None:
        if not (self.venv / "bin" / "python").exists():
            subprocess.run([sys.executable, "-m", "venv", str(self.venv)], check=True)
        subprocess.run([str(self.venv / "bin" / "pip"), "install", "-q", *TOOLS], check=True,
                       stderr=subprocess.DEVNULL)

    # -- hosts --------------------------------------------------------------------------
    def light(self, count: int) -> list[Host]:
        return self._hosts("light", count)

    def sshd(self, count: int) -> list[Host]:
        return self._hosts("sshd", count)

    def full(self, count: int) -> list[Host]:
        return self._hosts("full", count)

    def _hosts(self, kind: str, count: int) -> list[Host]:
        bed = self.beds[kind]
        if self.up.get(kind) != count:
            log(f"{kind} hosts: {count}")
            bed.scale(count)
            self.up[kind] = count
        return bed.hosts(bed.targets())

    def down(self, kind: str) -> None:
        if self.up.pop(kind, None) is not None:
            self.beds[kind].down()

    def reset(self, hosts: list[Host], full: bool = False) -> None:
        self.beds["full" if full else "light"].reset_all()

    def on_all(self, hosts: list[Host], line: str) -> None:
        self.quiet(parallel([sh(h.ssh_argv()) + " " + sh([line]) for h in hosts]))

    def quiet(self, argv: list[str]) -> None:
        subprocess.run(argv, check=True, capture_output=True, timeout=600)

    def background(self, argv: list[str]) -> None:
        subprocess.run(argv, check=True, capture_output=True, timeout=60)

    # -- inputs -------------------------------------------------------------------------
    def kit(self, hosts: list[Host]) -> Kit:
        return Kit(self.work / f"kit-{hosts[0].port}-{len(hosts)}", hosts)

    def tarball(self, megabytes: int) -> tuple[Path, str]:
        if megabytes not in self._tarballs:
            self._tarballs[megabytes] = otter_side.tarball(self.work / "app", megabytes)
        return self._tarballs[megabytes]

    def docker_images(self) -> dict:
        """otter-bench-app:v1 (busybox, 28 MB blob, www) and :v2 (only www differs)."""
        if self._images is None:
            self._images = {}
            for version in ("v1", "v2"):
                folder = self.work / f"image-{version}"
                self._app_tree(folder, version)
                self.quiet(["docker", "build", "-q", "-t", f"otter-bench-app:{version}",
                            str(folder)])
                self._images[version] = f"otter-bench-app:{version}"
            self._images["archive"] = self.work / "app-v1.tar"
            self.quiet(["docker", "save", "-o", str(self._images["archive"]),
                        "otter-bench-app:v1"])
        return self._images

    def _app_tree(self, folder: Path, version: str) -> None:
        app_tree(folder, version, self.work)

    def docker_project(self, folder: Path, hosts: list[Host]) -> Path:
        folder.mkdir(parents=True, exist_ok=True)
        self._app_tree(folder / "app", "v1")
        entries = [(f"root@127.0.0.1:{h.port}", h.key, h.known_hosts) for h in hosts]
        path = folder / "Otterfile.py"
        path.write_text(DOCKER_OTTERFILE.format(hosts=entries))
        return path

    def app_version(self, otterfile: Path, version: str) -> None:
        """The app tree in `version`; built now, so otter's acquire is a cache hit."""
        self._app_tree(otterfile.parent / "app", version)
        self.quiet(["docker", "build", "-q", "-t", "otter-bench-app:latest",
                    str(otterfile.parent / "app")])

    # -- measuring ----------------------------------------------------------------------
    def measure(self, made) -> None:
        cases, extra = made if isinstance(made, tuple) else (made, [])
        extra = [m for m in extra if m is not None]
        for case in cases:
            self.results.append(case.measured)
            if case.derive:
                self.results += [m for m, _ in case.derive]
        log(f"{cases[0].measured.workload} on {cases[0].measured.hosts} host(s)")
        for number in range(self.rounds + 1):  # round 0 is the warm-up
            for case in cases:
                if case.measured.error:
                    continue
                try:
                    case.once(keep=number > 0)
                except Exception as error:  # a failing tool is a row, not the end of the run
                    case.measured.error = str(error).replace("\n", " ")[:300]
                    log(f"  {case.measured.case}: {case.measured.error}")
        for case in cases:
            log(f"  {case.measured.case}: {case.measured.median}")

    def finish(self) -> None:
        self.load["end"] = uptime()
        for result, a, b in self.differences:
            pairs = list(zip(a.values, b.values))
            result.values = sorted(x - y for x, y in pairs)
            if result not in self.results:
                self.results.insert(self.results.index(b) + 1 if b in self.results
                                    else len(self.results), result)
        (self.work / "results.json").write_text(json.dumps(
            [vars(m) for m in self.all_results()], indent=1))

    def merge(self, path: Path) -> None:
        """Keep an earlier run's workloads that this run does not measure again."""
        self.earlier = [Measured(**item) for item in json.loads(path.read_text())]

    def all_results(self) -> list[Measured]:
        mine = {m.workload for m in self.results}
        return [m for m in getattr(self, "earlier", []) if m.workload not in mine] + \
            self.results

    def plot(self, out: Path) -> None:
        data = self.work / "w6.json"
        data.write_text(json.dumps([vars(m) for m in self.all_results()
                                    if m.workload.startswith("W6") and m.values]))
        subprocess.run([str(self.venv / "bin" / "python"), str(Path(__file__).parent /
                        "plot.py"), str(data), str(out)], check=False)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def machine(venv: Path) -> dict[str, str]:
    def first(argv: list[str]) -> str:
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
        except OSError:
            return "-"
        return ((done.stdout or done.stderr).strip().splitlines() or ["-"])[0]
    pip = subprocess.run([str(venv / "bin" / "pip"), "list", "--format=json"],
                         capture_output=True, text=True)
    versions = {p["name"].lower(): p["version"] for p in json.loads(pip.stdout or "[]")}
    return {"CPUs": str(os.cpu_count()), "kernel": platform.release(),
            "python": platform.python_version(),
            "OpenSSH": first(["ssh", "-V"]),
            "docker": first(["docker", "version", "--format", "{{.Server.Version}}"]),
            "pyinfra": versions.get("pyinfra", "-"), "fabric": versions.get("fabric", "-"),
            "paramiko": versions.get("paramiko", "-"),
            "ansible-core": versions.get("ansible-core", "-"),
            "otter (last commit of otterfile/)": first(
                ["git", "-C", str(otter_side.ROOT), "log", "-1", "--format=%h", "--", "otterfile"])}

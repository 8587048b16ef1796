"""otter's side: Otterfiles for the bench hosts and `otter` run from this checkout."""
from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tarfile
from pathlib import Path

from .hosts import Host

ROOT = Path(__file__).resolve().parents[1]
SERVER = '''import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
port = int(sys.argv[sys.argv.index("--port") + 1])
class H(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200); self.send_header("Content-Length", "3"); self.end_headers()
        self.wfile.write(b"ok\\n")
    def log_message(self, *a): pass
ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
'''
SYSTEMD = '''from otterfile import *

HOSTS = {hosts!r}

@artifact
def web():
    return fetch("file://{tarball}", sha256="{sha256}")

@runtime
def service():
    return systemd(command="python3 server.py --port {{port}}", port=8080)

@target
def servers():
    return [ssh(address, identity_file=key, known_hosts=known) for address, key, known in HOSTS]

@deployment
def production():
    return Deployment(artifact=web, runtime=service, targets=[servers], domains=["bench.test"],
                      proxy=caddy(tls="off"), keep_releases=2,
                      health_check=HealthCheck(path="/health", timeout_seconds=20))
'''
STEP = '''
@step(deployment="production", after="switch")
def twenty(ctx):
    for i in range(20):
        ctx.run(f"echo {i}")
'''


def tarball(folder: Path, megabytes: int) -> tuple[Path, str]:
    """server.py plus `megabytes` of random bytes, as a .tar.gz, and its sha256."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"app-{megabytes}mb.tar.gz"
    if not path.exists():
        (folder / "server.py").write_text(SERVER)
        (folder / "blob.bin").write_bytes(os.urandom(megabytes * 1024 * 1024))
        with tarfile.open(path, "w:gz", compresslevel=1) as archive:
            archive.add(folder / "server.py", "server.py")
            archive.add(folder / "blob.bin", "blob.bin")
        (folder / "blob.bin").unlink()
    return path, hashlib.sha256(path.read_bytes()).hexdigest()


def systemd_project(folder: Path, hosts: list[Host], archive: tuple[Path, str],
                    step: bool = False) -> Path:
    """An Otterfile deploying `archive` with the systemd runtime behind Caddy."""
    folder.mkdir(parents=True, exist_ok=True)
    entries = [(f"root@127.0.0.1:{h.port}", h.key, h.known_hosts) for h in hosts]
    text = SYSTEMD.format(hosts=entries, tarball=archive[0], sha256=archive[1])
    path = folder / "Otterfile.py"
    path.write_text(text + (STEP if step else ""))
    return path


def argv(otterfile: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "otterfile", "-f", str(otterfile), *args]


def env() -> dict[str, str]:
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT),
                                                        os.environ.get("PYTHONPATH")]))}


def can(*words: str) -> bool:
    """Whether `otter WORDS --help` mentions the last word (a feature check)."""
    done = subprocess.run([sys.executable, "-m", "otterfile", *words[:-1], "--help"],
                          capture_output=True, text=True, env={**os.environ, **env()})
    return words[-1] in done.stdout


def compiled() -> None:
    """Byte code for otter's modules, as an installed otter has (pip compiles on install)."""
    import compileall
    compileall.compile_dir(str(ROOT / "otterfile"), quiet=1)


def end_masters(folder: Path) -> None:
    """End the SSH masters otter kept in `folder` (a cold start for the next run)."""
    for path in folder.glob("*"):
        if not path.name.endswith(".lock"):
            subprocess.run(["ssh", "-o", f"ControlPath={path}", "-O", "exit", "x"],
                           capture_output=True, timeout=30)

"""A build host's container engine and artifact store, reached through its executor.

`build(..., on="builder")` builds on that target; this store answers what the ship stage
asks of an image store (id, size, layers, a `docker save` stream, a kept file) by running
commands there. The streams are read from the build host's executor and written into each
target's by ship, so the artifact passes through the controller without being stored on it.
"""
from __future__ import annotations

import json
import re
import subprocess
import tempfile
from pathlib import Path
from typing import Any, BinaryIO

from ..command import Command, cmd, script
from ..errors import OtterError
from ..executors.base import Executor
from .images import Inspected

CACHE_DIR = Path("/var/cache/otter/build")  # on the build host: git mirrors, exports, files

# $1 a file: its size, or exit 3 when it is not there.
SIZE_SCRIPT = '[ -f "$1" ] || { echo "otter: no file $1" >&2; exit 3; }; stat -c %s -- "$1"'


SERVE_SECONDS = 3600  # a server otter failed to stop ends by itself after this long

# $1 the file, $2 a random name, $3 seconds. Serves only that file, under the random name,
# on a free port of every address; prints `pid= port= address= folder=` once it listens.
SERVE_SCRIPT = r"""
[ -f "$1" ] || { echo "otter: no file $1" >&2; exit 3; }
command -v python3 >/dev/null || { echo "otter: python3 is needed to serve $1" >&2; exit 4; }
d=$(mktemp -d) && ln -s "$1" "$d/$2" || exit 1
nohup timeout "$3" python3 -c '
import http.server, os, sys
os.chdir(sys.argv[1])
server = http.server.ThreadingHTTPServer(("", 0), http.server.SimpleHTTPRequestHandler)
open("port", "w").write(str(server.server_address[1]))
server.serve_forever()' "$d" >/dev/null 2>&1 </dev/null &
pid=$!
for _ in $(seq 50); do [ -s "$d/port" ] && break; sleep 0.1; done
[ -s "$d/port" ] || { kill "$pid"; rm -rf "$d"; echo "otter: the server did not start" >&2; exit 5; }
# the address of the default route (a route lookup sends nothing), else the first address
addr=$(ip -o route get 192.0.2.1 2>/dev/null | sed -n 's/.* src \([^ ]*\).*/\1/p')
[ -n "$addr" ] || addr=$(hostname -I 2>/dev/null | cut -d' ' -f1)
echo "pid=$pid port=$(cat "$d/port") address=${addr:-$(hostname)} folder=$d"
"""


def serve(path: Path, name: str, seconds: int = SERVE_SECONDS) -> Command:
    """Serve one kept file over HTTP on a free port until stopped (at most `seconds`)."""
    return script(SERVE_SCRIPT, args=[str(path), name, str(seconds)],
                  description=f"serve {path.name} over HTTP")


def stop_serving(pid: int, folder: str) -> Command:
    return script('kill "$1" 2>/dev/null; rm -rf -- "$2"; exit 0', args=[str(pid), folder],
                  description="stop serving")


def inspect(engine: str, ref: str) -> Command:
    """`docker image inspect REF` as JSON (exit 1 and nothing printed: no such image)."""
    return cmd(engine, "image", "inspect", "--format", "{{json .}}", "--", ref,
               ok_codes=(0, 1), description=f"inspect {ref}")


def save(engine: str, image_id: str) -> Command:
    """`docker save IMAGE_ID`: the archive on stdout."""
    return cmd(engine, "save", image_id, description=f"save {image_id[:19]}")


def file_size(path: Path) -> Command:
    return script(SIZE_SCRIPT, args=[str(path)], description=f"size of {path}")


def cat(path: Path) -> Command:
    return cmd("cat", "--", str(path), description=f"read {path}")


def manifest(path: Path) -> Command:
    """The manifest.json of a `docker save` archive (exit non-zero: not one)."""
    return cmd("tar", "-xOf", str(path), "manifest.json", ok_codes=(0, 1, 2),
               description=f"is {path.name} an image archive")


class RemoteImages(Inspected):
    """The image store of a build host: what `build(on=...)` made stays there."""

    def __init__(self, executor: Executor, engine: str = "docker"):
        self.executor, self.engine = executor, engine
        self._seen: dict[str, dict] = {}  # ref or id -> `image inspect` (one round trip each)
        self._served: list[tuple[int, str]] = []  # (pid, folder) of each HTTP server

    @property
    def where(self) -> str:
        return self.executor.host.name

    def _inspect(self, ref: str) -> dict | None:
        if ref not in self._seen:
            result = self.executor.run(inspect(self.engine, ref))
            if not result.ok:
                raise OtterError(f"{self.where}: {self.engine} image inspect {ref} failed: "
                                 f"{result.tail(3)}")
            found = _parse_inspect(result.stdout)
            if found is None:
                return None
            self._seen[ref] = self._seen[found["Id"]] = found
        return self._seen[ref]

    def save(self, image_id: str) -> BinaryIO:
        if self._inspect(image_id) is None:
            raise OtterError(f"{self.engine} save {image_id} failed on {self.where}: "
                             "no such image")
        return open_stream(self.executor, save(self.engine, image_id))

    def decline(self, image_id: str) -> None:
        """Nothing to do: each `save` is its own stream (fanout.SharedImages shares one)."""

    def open_file(self, path: Path) -> tuple[BinaryIO, int | None]:
        sized = self.executor.run(file_size(path))
        if not sized.ok or not sized.stdout.strip().isdigit():
            raise OtterError(f"cannot read {path} on {self.where}: "
                             f"{sized.tail(3) or f'exit {sized.exited}'}")
        return open_stream(self.executor, cat(path)), int(sized.stdout.strip())

    def serve(self, path: Path) -> str:
        """Serve a kept file for the targets to download (build(via="url")): its URL, with
        a random name, until `close`."""
        import secrets
        name = secrets.token_hex(16)  # only who was told the URL finds the file
        result = self.executor.run(serve(path, name))
        found = dict(re.findall(r"(\w+)=(\S+)", result.stdout))
        if not result.ok or not {"pid", "port", "address", "folder"} <= set(found):
            raise OtterError(f"cannot serve {path} on {self.where}: "
                             f"{result.tail(3) or f'exit {result.exited}'}")
        self._served.append((int(found["pid"]), found["folder"]))
        address = found["address"]
        host = f"[{address}]" if ":" in address else address
        return f"http://{host}:{found['port']}/{name}"

    def close(self) -> None:
        """Stop what this store serves (the run is over)."""
        while self._served:
            pid, folder = self._served.pop()
            self.executor.run(stop_serving(pid, folder))

    def archive_image_id(self, path: Path) -> str | None:
        """The image id of a `docker save` archive kept on the build host, or None when the
        file is not one (only its manifest is read, there)."""
        result = self.executor.run(manifest(path))
        return image_id_of_manifest(result.stdout) if result.exited == 0 else None


def _parse_inspect(stdout: str) -> dict | None:
    text = stdout.strip()
    if not text:
        return None
    try:
        found = json.loads(text.splitlines()[0])
    except ValueError:
        return None
    return found if isinstance(found, dict) and isinstance(found.get("Id"), str) else None


def image_id_of_manifest(text: str) -> str | None:
    """The config digest a `docker save` manifest names (one image), as sha256:HEX."""
    try:
        found: Any = json.loads(text)
    except ValueError:
        return None
    if not isinstance(found, list) or len(found) != 1 or not isinstance(found[0], dict):
        return None
    matched = re.search(r"([0-9a-f]{64})(\.json)?$", str(found[0].get("Config", "")))
    return f"sha256:{matched.group(1)}" if matched else None


def open_stream(executor: Executor, command: Command) -> BinaryIO:
    """The stdout of `command` on the executor's host as a stream (for `docker save` and
    `cat`); executors that offer `open_stream` are asked, others get one process here."""
    opener = getattr(executor, "open_stream", None)
    if opener is not None:
        return opener(command)
    return Stream(_argv(executor, command), executor.host.name, command.description)


def _argv(executor: Executor, command: Command) -> list[str]:
    """The argv that runs `command` on the executor's host: over its SSH master, or here."""
    from ..executors.ssh import SSHExecutor
    if isinstance(executor, SSHExecutor):
        executor._ensure_master()  # noqa: SLF001: one more session on the same master
        return executor._ssh("-T", "-e", "none") + [command.shell_line()]  # noqa: SLF001
    return ["sh", "-c", command.shell_line()]


class Stream:
    """A process's stdout read as a file; `close` waits for it and raises when it failed,
    naming the host and what ran, with its last lines of stderr."""

    def __init__(self, argv: list[str], host: str, what: str):
        self.host, self.what = host, what
        self._stderr, self._eof = tempfile.TemporaryFile(), False
        self._process = subprocess.Popen(argv, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.PIPE, stderr=self._stderr)

    def read(self, size: int = -1) -> bytes:
        assert self._process.stdout is not None
        chunk = self._process.stdout.read(size)
        self._eof = self._eof or (not chunk and size != 0)
        return chunk

    def close(self) -> None:
        process, stopped = self._process, False
        if process.stdout is not None and not process.stdout.closed:
            if not self._eof and process.poll() is None:  # the reader gave up: stop it
                process.terminate()
                stopped = True
            process.stdout.close()
        code = process.wait()
        if self._stderr.closed:
            return
        self._stderr.seek(0)
        tail = self._stderr.read().decode(errors="replace").strip().splitlines()[-3:]
        self._stderr.close()
        if code != 0 and not stopped:
            raise OtterError(f"{self.what} on {self.host} failed (exit {code})"
                             + (f": {' '.join(tail)}" if tail else ""))

    def __enter__(self) -> "Stream":
        return self

    def __exit__(self, *_: Any) -> None:
        self.close()

"""A tiny test application image: FROM scratch + static busybox serving a page and /health.

    image_id = build_app_image("otter-test-app:v1", "v1")                   # healthy
    build_app_image("otter-test-app:bad", "v2", healthy=False)               # /health is 404
    build_app_image("otter-test-app:dead", "v2", healthy=False, failure="exit")  # exits 1 at once

The image is built on the controller's Docker engine (under a second, 2 MB) and carries the
label otter.test=1, which `clean_targets` uses to remove it from the targets. It serves
/www on $PORT (default 8080): `/` answers `version_text`, `/health` answers "ok",
`/cgi-bin/slow` answers `version_text` after $SLOW_SECONDS (default 2): a long request.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import IO, Iterator

BUSYBOX = Path("/bin/busybox")  # Debian's busybox-static
DEFAULT_PORT = 8080

# sh as PID 1 with a trap: a plain `busybox httpd` as PID 1 ignores SIGTERM, and every
# `docker stop` would then wait its full timeout.
SERVE = ('trap "exit 0" TERM INT; sleep "${START_DELAY:-0}"; '
         'busybox httpd -f -p "${PORT:-%d}" -h /www & wait $!' % DEFAULT_PORT)
# busybox httpd runs it as CGI; FROM scratch has no /bin/sh, so busybox is named in full
SLOW_CGI = """#!/bin/busybox sh
/bin/busybox sleep "${SLOW_SECONDS:-2}"
echo "Content-Type: text/plain"
echo
/bin/busybox cat /www/index.html
"""
FAIL = 'echo "otter test app: failing on purpose" >&2; exit 1'

DOCKERFILE = """\
FROM scratch
COPY busybox /bin/busybox
COPY www/ /www/
ENV PATH=/bin PORT={port} START_DELAY={start_delay}
LABEL otter.test=1 otter.test.version={label}
EXPOSE {port}
CMD ["/bin/busybox", "sh", "-c", {command}]
"""


def build_app_image(tag: str, version_text: str, healthy: bool = True, *, failure: str = "404",
                    port: int = DEFAULT_PORT, start_delay: float = 0) -> str:
    """Build the test app as `tag` on the controller's engine; return its image id.

    healthy=False fails with `failure`: "404" (serves `/` but no /health) or "exit" (the
    container exits 1 at once). `start_delay` seconds pass before it listens (slow starts).
    """
    if failure not in ("404", "exit"):
        raise ValueError(f"failure must be '404' or 'exit', got {failure!r}")
    if not BUSYBOX.exists():
        raise RuntimeError(f"{BUSYBOX} is missing: apt-get install busybox-static")
    with tempfile.TemporaryDirectory(prefix="otter-app-") as tmp:
        context = Path(tmp)
        shutil.copy(BUSYBOX, context / "busybox")
        (context / "www").mkdir()
        (context / "www" / "index.html").write_text(version_text + "\n")
        if healthy or failure != "404":
            (context / "www" / "health").write_text("ok\n")
        add_slow_route(context / "www")
        command = SERVE if healthy or failure == "404" else FAIL
        (context / "Dockerfile").write_text(DOCKERFILE.format(
            port=port, start_delay=start_delay, label=_quote(version_text[:60]),
            command=_quote(command)))
        result = subprocess.run(["docker", "build", "--quiet", "--tag", tag, tmp],
                                capture_output=True, text=True,
                                env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if result.returncode != 0:
        raise RuntimeError(f"docker build {tag} failed:\n{result.stderr}")
    return image_id(tag)


def add_slow_route(www: Path) -> None:
    """`/cgi-bin/slow`: the page after a sleep, for requests in flight during a switch."""
    (www / "cgi-bin").mkdir(exist_ok=True)
    slow = www / "cgi-bin" / "slow"
    slow.write_text(SLOW_CGI)
    slow.chmod(0o755)


def image_id(tag: str) -> str:
    return subprocess.run(["docker", "image", "inspect", "-f", "{{.Id}}", tag],
                          capture_output=True, text=True, check=True).stdout.strip()


@contextlib.contextmanager
def saved(*tags: str) -> Iterator[IO[bytes]]:
    """A `docker save` stream of `tags`, e.g. for `executor.run(cmd("docker", "load"), stdin=...)`."""
    process = subprocess.Popen(["docker", "save", *tags], stdout=subprocess.PIPE)
    try:
        yield process.stdout
    except BaseException:
        process.kill()
        raise
    finally:
        process.stdout.close()
        status = process.wait(timeout=60)
    if status != 0:
        raise RuntimeError(f"docker save {' '.join(tags)} exited {status}")


def _quote(text: str) -> str:
    """A JSON string: valid in a Dockerfile's exec form and LABEL value."""
    return json.dumps(text)

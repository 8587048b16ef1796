"""The target hosts' images, built only when missing or when their recipe changed.

    python -m tests.testbed.images            # build what is missing, print the target tag
    python -m tests.testbed.images --remove   # remove every testbed image (a cold start)

`otter-testbed-base:HASH` is a Debian root file system from mmdebstrap (`recipe/base.packages`),
imported with `docker import`; `otter-testbed-target:HASH` is `recipe/Dockerfile` on top of it.
Each HASH covers the recipe files that make the image (and, for the target, the base's tag).
"""
from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Iterator

RECIPE = Path(__file__).resolve().parent / "recipe"
CACHE = Path(__file__).resolve().parent / ".cache"
BUILD_LOCK = Path("/run/lock/otter-testbed-build.lock")
BASE_REPO = "otter-testbed-base"
TARGET_REPO = "otter-testbed-target"
SUITE = "bookworm"
SOURCES = ("/etc/apt/sources.list.d/debian.sources", "/etc/apt/sources.list")
# Smaller image, same behaviour: no manuals, docs or translations.
MMDEBSTRAP_OPTIONS = (
    "--variant=minbase",
    '--aptopt=Acquire::Languages "none"',
    "--dpkgopt=path-exclude=/usr/share/man/*",
    "--dpkgopt=path-exclude=/usr/share/doc/*",
    "--dpkgopt=path-include=/usr/share/doc/*/copyright",
    "--dpkgopt=path-exclude=/usr/share/locale/*",
)

Log = Callable[[str], None]


def _stderr(message: str) -> None:
    print(f"testbed: {message}", file=sys.stderr, flush=True)


def packages() -> list[str]:
    lines = (RECIPE / "base.packages").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def mirrors() -> list[str]:
    """The apt sources mmdebstrap uses: $OTTER_TESTBED_MIRROR, else this machine's own."""
    if os.environ.get("OTTER_TESTBED_MIRROR"):
        return [os.environ["OTTER_TESTBED_MIRROR"]]
    found = [path for path in SOURCES if _has_entries(Path(path))]
    if not found:
        raise RuntimeError(f"no apt sources in {' or '.join(SOURCES)}: set OTTER_TESTBED_MIRROR")
    return found


def _has_entries(path: Path) -> bool:
    if not path.is_file():
        return False
    return any(line.strip() and not line.lstrip().startswith("#")
               for line in path.read_text().splitlines())


def _digest(parts: list[bytes]) -> str:
    sha = hashlib.sha256()
    for part in parts:
        sha.update(len(part).to_bytes(8, "big") + part)
    return sha.hexdigest()[:12]


def base_tag() -> str:
    parts = [SUITE.encode(), *map(str.encode, MMDEBSTRAP_OPTIONS), *map(str.encode, packages())]
    for mirror in mirrors():
        parts.append(Path(mirror).read_bytes() if Path(mirror).is_file() else mirror.encode())
    return f"{BASE_REPO}:{_digest(parts)}"


def target_tag() -> str:
    parts = [base_tag().encode()]
    for path in sorted(p for p in RECIPE.rglob("*") if p.is_file()):
        if path.name != "base.packages":
            parts += [str(path.relative_to(RECIPE)).encode(), path.read_bytes()]
    return f"{TARGET_REPO}:{_digest(parts)}"


def image_exists(tag: str) -> bool:
    return subprocess.run(["docker", "image", "inspect", tag], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL).returncode == 0


def build_base(tag: str, log: Log = _stderr) -> None:
    """mmdebstrap streams a tarball straight into `docker import` (no temp file)."""
    CACHE.mkdir(exist_ok=True)
    logfile = CACHE / "mmdebstrap.log"
    argv = ["mmdebstrap", *MMDEBSTRAP_OPTIONS, "--include=" + ",".join(packages()),
            "--format=tar", SUITE, "-", *mirrors()]
    log(f"building {tag} with mmdebstrap (about a minute; log: {logfile})")
    with open(logfile, "wb") as out:
        debootstrap = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=out)
        imported = subprocess.run(
            ["docker", "import", "-c", "LABEL otter.testbed=base", "-", tag],
            stdin=debootstrap.stdout, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        debootstrap.stdout.close()
        status = debootstrap.wait()
    if status != 0 or imported.returncode != 0:
        subprocess.run(["docker", "rmi", tag], capture_output=True)
        raise RuntimeError(f"building {tag} failed (mmdebstrap exited {status}, see {logfile}; "
                           f"docker import: {imported.stderr.decode().strip()})")


def build_target(tag: str, base: str, log: Log = _stderr) -> None:
    log(f"building {tag} from {base}")
    result = subprocess.run(
        ["docker", "build", "--quiet", "--build-arg", f"BASE={base}",
         "--label", "otter.testbed=target", "--tag", tag, str(RECIPE)],
        capture_output=True, text=True, env={**os.environ, "DOCKER_BUILDKIT": "0"})
    if result.returncode != 0:
        raise RuntimeError(f"docker build of {tag} failed:\n{result.stdout}{result.stderr}")


def remove_stale(repo: str, keep: str) -> None:
    """Drop older tags of `repo`; an image still used by a container stays (rmi fails)."""
    listed = subprocess.run(["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", repo],
                            capture_output=True, text=True).stdout.split()
    stale = [tag for tag in listed if tag != keep]
    if stale:
        subprocess.run(["docker", "rmi", *stale], capture_output=True)


@contextlib.contextmanager
def _build_lock() -> Iterator[None]:
    """Two test sessions starting at once build each image once (machine-wide: the images
    are the Docker engine's, shared by every checkout and slot)."""
    BUILD_LOCK.parent.mkdir(parents=True, exist_ok=True)
    with open(BUILD_LOCK, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def ensure_images(log: Log = _stderr) -> str:
    """Build the base and target images if missing; return the target image's tag."""
    base, target = base_tag(), target_tag()
    if image_exists(target):
        return target
    with _build_lock():
        if not image_exists(base):
            started = time.monotonic()
            build_base(base, log)
            log(f"{base} built in {time.monotonic() - started:.0f}s")
            remove_stale(BASE_REPO, base)
        if not image_exists(target):
            build_target(target, base, log)
            remove_stale(TARGET_REPO, target)
    return target


def remove_images() -> None:
    """Remove every testbed image (base, target); containers using them must be gone."""
    for repo in (TARGET_REPO, BASE_REPO):
        remove_stale(repo, keep="")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.testbed.images", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--remove", action="store_true", help="remove all testbed images")
    parser.add_argument("--tag", action="store_true", help="print the target tag, build nothing")
    args = parser.parse_args(argv)
    if args.remove:
        remove_images()
    elif args.tag:
        print(target_tag())
    else:
        print(ensure_images())
    return 0


if __name__ == "__main__":
    sys.exit(main())

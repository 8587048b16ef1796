"""acquire and ship for real: FROM-scratch busybox images built by the local Docker engine,
from a local folder and from a bare git repository made here (reached by path), identified
and saved through the Docker SDK, then shipped to a test host's docker and podman over SSH."""
from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.build import acquire
from otterfile.transfer.images import DockerImages
from otterfile.transfer.ship import ship
from otterfile.command import Command, cmd
from otterfile.commands import git
from otterfile.commands.container import bare_id
from otterfile.errors import OtterError
from otterfile.executors import executor_for
from otterfile.executors.local import LocalExecutor
from otterfile.load.model import build
from otterfile.runtimes import docker, podman

pytestmark = pytest.mark.integration

BUSYBOX = Path("/bin/busybox")
DOCKERFILE = """FROM scratch
COPY busybox /bin/busybox
COPY index.html /www/index.html
CMD ["/bin/busybox", "httpd", "-f", "-p", "8080", "-h", "/www"]
"""
TAG = f"otter-acquire-test:{uuid.uuid4().hex[:8]}"  # each run its own tag, removed at the end


def sh(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit(work: Path, text: str) -> str:
    (work / "index.html").write_text(text)
    sh("git", "add", "-A", cwd=work)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", text, cwd=work)
    return sh("git", "rev-parse", "HEAD", cwd=work)


def context(executor, folder: Path, cache_dir: Path, on_output=lambda line: None):
    return AcquireContext(executor, DockerImages(), folder, cache_dir, on_output)


class Spy(LocalExecutor):
    """A local executor that keeps every command's argv."""

    def __init__(self):
        super().__init__()
        self.argvs: list[list[str]] = []

    def run(self, command, **kwargs):
        self.argvs.append(command.argv_values())
        return super().run(command, **kwargs)


@pytest.fixture(scope="module", autouse=True)
def engine():
    if shutil.which("docker") is None or subprocess.run(
            ["docker", "info"], capture_output=True, check=False).returncode != 0:
        pytest.fail("needs a running Docker engine: run scripts/setup.sh")
    if not BUSYBOX.exists():
        pytest.fail("needs /bin/busybox (busybox-static): run scripts/setup.sh")
    yield
    tags = sh("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
              TAG.split(":")[0]).split()
    if tags:
        subprocess.run(["docker", "rmi", "--no-prune", "-f", *tags], capture_output=True,
                       check=False)


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    """A work tree at v2 (main), with tag v1 and branch old at v1, and its bare clone."""
    root = tmp_path_factory.mktemp("app")
    work = root / "work"
    work.mkdir()
    shutil.copy(BUSYBOX, work / "busybox")
    (work / "Dockerfile").write_text(DOCKERFILE)
    (work / ".gitignore").write_text(".otter/\n")
    sh("git", "init", "-q", "-b", "main", cwd=work)
    v1 = commit(work, "v1\n")
    sh("git", "tag", "v1", cwd=work)
    sh("git", "branch", "old", cwd=work)
    v2 = commit(work, "v2\n")
    sh("git", "clone", "-q", "--bare", str(work), str(root / "app.git"))
    return {"root": root, "work": work, "bare": root / "app.git", "v1": v1, "v2": v2}


def page(image: str) -> str:
    return sh("docker", "run", "--rm", "--network", "none", image,
              "/bin/busybox", "cat", "/www/index.html")


def test_build_from_local_path(app):
    lines: list[str] = []
    started = time.monotonic()
    artifact = acquire(build(path="work", command=f"docker build -t {TAG}-path ."),
                       context(LocalExecutor(), app["root"], app["root"] / ".otter" / "cache",
                               lines.append))
    print(f"path build: {time.monotonic() - started:.2f}s")
    assert artifact.form == "image" and artifact.image == f"{TAG}-path"
    assert artifact.digest == sh("docker", "image", "inspect", "--format", "{{.Id}}",
                                 f"{TAG}-path")
    assert artifact.commit == app["v2"] and artifact.source == str(app["work"])
    assert any(f"Successfully tagged {TAG}-path" in line for line in lines)
    assert page(artifact.image) == "v2"


@pytest.mark.parametrize("ref, version", [("main", "v2"), ("old", "v1"), ("v1", "v1"),
                                          ("short-v1", "v1"), ("full-v2", "v2")])
def test_build_from_repo_at_ref(app, tmp_path, ref, version):
    asked = {"short-v1": app["v1"][:9], "full-v2": app["v2"]}.get(ref, ref)
    started = time.monotonic()
    artifact = acquire(build(repo=str(app["bare"]), ref=asked, image=TAG,
                             command=f"docker build --tag={TAG} ."),
                       context(LocalExecutor(), tmp_path, tmp_path / "cache"))
    print(f"repo build at {ref}: {time.monotonic() - started:.2f}s")
    assert artifact.commit == app[version] and artifact.ref == asked
    assert artifact.source == str(app["bare"])
    assert artifact.digest == sh("docker", "image", "inspect", "--format", "{{.Id}}", TAG)
    assert page(TAG) == version


def test_second_acquire_fetches_and_reuses_the_export(app, tmp_path):
    source = build(repo=str(app["bare"]), ref="v1", command=f"docker build -t {TAG}-again .")
    spy = Spy()
    ctx = context(spy, tmp_path, tmp_path / "cache")
    first = acquire(source, ctx)
    verbs = [argv[:2] + argv[3:4] for argv in spy.argvs]
    assert ["git", "clone", "--quiet"] in verbs
    assert any(argv[:3] == ["sh", "-c", git.EXPORT_SCRIPT] for argv in spy.argvs)
    spy.argvs.clear()
    second = acquire(source, ctx)
    assert second == first
    assert not any(argv[:2] == ["git", "clone"] for argv in spy.argvs)
    assert git.fetch(str(_mirror(tmp_path))).argv_values() in spy.argvs
    assert not any(argv[:3] == ["sh", "-c", git.EXPORT_SCRIPT] for argv in spy.argvs)
    builds = [argv for argv in spy.argvs if argv[:3] == ["sh", "-c", source.command]]
    assert len(builds) == 1  # the build itself runs every time, once


def _mirror(cache_parent: Path) -> Path:
    (mirror,) = (cache_parent / "cache" / "repos").glob("*.git")
    return mirror


@pytest.fixture(scope="module")
def built(app, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ship")
    return acquire(build(repo=str(app["bare"]), ref="main", command=f"docker build -t {TAG} ."),
                   context(LocalExecutor(), tmp, tmp / "cache"))


def test_ship_into_the_same_engine_is_skipped(built):
    result = ship(built, docker.RUNTIME, LocalExecutor(), DockerImages())
    assert result.shipped is False and result.bytes == 0


@pytest.mark.parametrize("runtime", [docker.RUNTIME, podman.RUNTIME], ids=lambda r: r.name)
def test_ship_to_an_ssh_target(built, target, runtime):
    engine, remote = runtime.name, executor_for(target.host)
    try:
        remote.run(cmd("true"))  # opens the SSH master outside the timing
        remote.run(_rmi(engine, built.image, f"{TAG}-keep"))
        progress: list[tuple[int, int | None]] = []
        first = ship(built, runtime, remote, DockerImages(),
                     on_progress=lambda sent, total: progress.append((sent, total)))
        print(f"ship over ssh into {engine}: {first.bytes} bytes in {first.seconds:.2f}s")
        assert first.shipped and first.bytes > BUSYBOX.stat().st_size
        assert progress[-1][0] == first.bytes and progress[-1][1] is not None
        assert _target_id(remote, engine, built.image) == built.digest
        second = ship(built, runtime, remote, DockerImages())
        print(f"no-op ship over ssh into {engine}: {second.seconds:.3f}s")
        assert not second.shipped and second.bytes == 0
        # The id is there under another name only: the tag is pointed at it, nothing moves.
        assert remote.run(cmd(engine, "tag", bare_id(built.digest), f"{TAG}-keep")).ok
        assert remote.run(cmd(engine, "rmi", built.image)).ok
        assert _target_id(remote, engine, built.image) == ""
        third = ship(built, runtime, remote, DockerImages())
        assert not third.shipped and _target_id(remote, engine, built.image) == built.digest
    finally:
        remote.run(_rmi(engine, built.image, f"{TAG}-keep"))
        remote.close()


def _rmi(engine: str, *images: str) -> Command:
    return cmd("sh", "-c", 'e=$1; shift; for i; do "$e" rmi "$i"; done; exit 0', "sh", engine,
               *images)


def _target_id(remote, engine: str, image: str) -> str:
    """The image id as docker shows it (sha256:...), or "" when the engine has no `image`."""
    result = remote.run(cmd(engine, "image", "inspect", "--format", "{{.Id}}", image,
                            ok_codes=(0, 1, 125)))
    found = result.stdout.strip() if result.exited == 0 else ""
    return f"sha256:{found}" if found and not found.startswith("sha256:") else found


def test_ship_of_an_image_the_controller_lacks_names_docker_save():
    gone = Artifact("image", "sha256:" + "0" * 64, image=None, source="/nowhere")
    with pytest.raises(OtterError, match="docker save sha256:0+ failed on the controller"):
        ship(gone, docker.RUNTIME, LocalExecutor(), DockerImages())

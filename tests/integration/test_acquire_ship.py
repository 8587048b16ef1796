"""acquire and ship for real: FROM-scratch busybox images built by the local Docker engine,
from a local folder and from a bare git repository made here (reached by path), then shipped
to a test host over SSH."""
from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from otterfile.acquire import Artifact, acquire
from otterfile.command import Command, cmd
from otterfile.commands import git, image as images
from otterfile.errors import OtterError
from otterfile.executors import executor_for
from otterfile.executors.local import LocalExecutor
from otterfile.model import build
from otterfile.ship import ship_image

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
        pytest.skip("needs a running Docker engine (scripts/setup.sh)")
    if not BUSYBOX.exists():
        pytest.skip("needs /bin/busybox (busybox-static)")
    yield
    tags = sh("docker", "image", "ls", "--format", "{{.Repository}}:{{.Tag}}",
              TAG.split(":")[0]).split()
    if tags:
        subprocess.run(["docker", "rmi", "-f", *tags], capture_output=True, check=False)


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
                       executor=LocalExecutor(), folder=app["root"],
                       cache_dir=app["root"] / ".otter" / "cache", on_output=lines.append)
    print(f"path build: {time.monotonic() - started:.2f}s")
    assert artifact.kind == "image" and artifact.image == f"{TAG}-path"
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
                       executor=LocalExecutor(), folder=tmp_path, cache_dir=tmp_path / "cache",
                       on_output=lambda line: None)
    print(f"repo build at {ref}: {time.monotonic() - started:.2f}s")
    assert artifact.commit == app[version] and artifact.ref == asked
    assert artifact.source == str(app["bare"])
    assert artifact.digest == sh("docker", "image", "inspect", "--format", "{{.Id}}", TAG)
    assert page(TAG) == version


def test_second_acquire_fetches_and_reuses_the_export(app, tmp_path):
    source = build(repo=str(app["bare"]), ref="v1", command=f"docker build -t {TAG}-again .")
    spy = Spy()
    run = dict(executor=spy, folder=tmp_path, cache_dir=tmp_path / "cache",
               on_output=lambda line: None)
    first = acquire(source, **run)
    verbs = [argv[:2] + argv[3:4] for argv in spy.argvs]
    assert ["git", "clone", "--quiet"] in verbs
    assert any(argv[:3] == ["sh", "-c", git.EXPORT_SCRIPT] for argv in spy.argvs)
    spy.argvs.clear()
    second = acquire(source, **run)
    assert second == first
    assert not any(argv[:2] == ["git", "clone"] for argv in spy.argvs)
    assert git.fetch(str(_mirror(tmp_path))).argv_values() in spy.argvs
    assert not any(argv[:3] == ["sh", "-c", git.EXPORT_SCRIPT] for argv in spy.argvs)
    assert [argv for argv in spy.argvs if argv[:2] == ["sh", "-c"]] == [
        ["sh", "-c", source.command]]  # the build itself runs every time, once


def _mirror(cache_parent: Path) -> Path:
    (mirror,) = (cache_parent / "cache" / "repos").glob("*.git")
    return mirror


@pytest.fixture(scope="module")
def built(app, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ship")
    return acquire(build(repo=str(app["bare"]), ref="main", command=f"docker build -t {TAG} ."),
                   executor=LocalExecutor(), folder=tmp, cache_dir=tmp / "cache",
                   on_output=lambda line: None)


def test_ship_into_the_same_engine_is_skipped(built):
    result = ship_image(built, LocalExecutor())
    assert result.shipped is False and result.bytes == 0


def test_ship_to_an_ssh_target(built, target):
    remote = executor_for(target.host)
    try:
        remote.run(cmd("true"))  # opens the SSH master outside the timing
        remote.run(_rmi(built.image))
        progress: list[tuple[int, int | None]] = []
        first = ship_image(built, remote, on_progress=lambda sent, total:
                           progress.append((sent, total)))
        print(f"ship over ssh: {first.bytes} bytes in {first.seconds:.2f}s")
        assert first.shipped and first.bytes > BUSYBOX.stat().st_size
        assert progress[-1][0] == first.bytes and progress[-1][1] is not None
        assert _target_id(remote, built.image) == built.digest
        second = ship_image(built, remote)
        print(f"no-op ship over ssh: {second.seconds:.3f}s")
        assert not second.shipped and second.bytes == 0
        # The id is there under another name only: the tag is pointed at it, nothing moves.
        remote.run(images.tag(built.digest, f"{TAG}-keep"))
        remote.run(_rmi(built.image))
        third = ship_image(built, remote)
        assert not third.shipped and _target_id(remote, built.image) == built.digest
    finally:
        remote.run(cmd("docker", "rmi", built.image, f"{TAG}-keep", ok_codes=(0, 1)))
        remote.close()


def _rmi(image: str) -> Command:
    return cmd("docker", "rmi", image, ok_codes=(0, 1))


def _target_id(remote, image: str) -> str:
    return remote.run(images.image_id(image)).stdout.strip()


def test_ship_of_an_image_the_controller_lacks_names_docker_save():
    gone = Artifact("image", "sha256:" + "0" * 64, image=None, source="/nowhere")
    with pytest.raises(OtterError, match="docker save sha256:0+ failed on the controller"):
        ship_image(gone, LocalExecutor())

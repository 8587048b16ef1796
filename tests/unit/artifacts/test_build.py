"""build(...): tag parsing, git builders, cache keys, ref resolution on a local repo,
failures, and the source's checks.

git and sh run locally here (a few milliseconds each); docker does not: a fake image store
answers for the controller's engine.
"""
from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import pytest

from otterfile.transfer.images import ControllerStore
from otterfile.artifacts import KINDS, source_for
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.build import SOURCE, acquire
from otterfile.artifacts.build_command import BuildFailed, image_tag
from otterfile.artifacts.git_mirror import cache_key, checkout, resolve_ref
from otterfile.artifacts.source_checks import resolve_url
from otterfile.commands import git
from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor
from otterfile.executors.recording import RecordingExecutor
from otterfile.load.model import Build, build
from otterfile.load.validate import FieldError

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "d" * 64


class FakeImages(ControllerStore):
    """An image store that knows one digest for every tag (or none), and what was asked."""

    def __init__(self, digest: str | None = DIGEST):
        self.digest, self.asked = digest, []

    def image_id(self, ref: str) -> str | None:
        self.asked.append(ref)
        return self.digest


def context(executor, folder: Path, cache_dir: Path, on_output=print,
            images: FakeImages | None = None) -> AcquireContext:
    return AcquireContext(executor, images or FakeImages(), folder, cache_dir, on_output)


class Spy(LocalExecutor):
    """A local executor that also keeps every command's argv."""

    def __init__(self):
        super().__init__()
        self.argvs: list[list[str]] = []

    def run(self, command, **kwargs):
        self.argvs.append(command.argv_values())
        return super().run(command, **kwargs)

    def git_verbs(self) -> list[str]:
        verbs = []
        for argv in self.argvs:
            if argv[0] == "git":
                verbs.append(argv[argv.index("--git-dir") + 2] if "--git-dir" in argv else argv[1])
        return verbs


def sh(*argv: str, cwd: Path) -> str:
    return subprocess.run(argv, cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit_file(work: Path, name: str, text: str, message: str) -> str:
    (work / name).write_text(text)
    sh("git", "add", name, cwd=work)
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message, cwd=work)
    return sh("git", "rev-parse", "HEAD", cwd=work)


@pytest.fixture
def repo(tmp_path):
    """A bare repo with main (two commits), an annotated tag v1 on the first, a branch dev."""
    work = tmp_path / "work"
    work.mkdir()
    sh("git", "init", "-q", "-b", "main", cwd=work)
    first = commit_file(work, "app.txt", "one\n", "one")
    sh("git", "-c", "user.name=t", "-c", "user.email=t@t", "tag", "-a", "v1", "-m", "v1",
       cwd=work)
    sh("git", "branch", "dev", cwd=work)
    second = commit_file(work, "app.txt", "two\n", "two")
    sh("git", "clone", "-q", "--bare", str(work), str(tmp_path / "app.git"), cwd=tmp_path)
    return {"url": str(tmp_path / "app.git"), "work": work, "first": first, "second": second}


# --- the image tag a build command makes ---

@pytest.mark.parametrize("command, tag", [
    ("docker build -t myapp .", "myapp"),
    ("docker build --tag myapp:1 .", "myapp:1"),
    ("docker build -tmyapp .", "myapp"),
    ("docker build --tag=reg.example/app:2 -f Dockerfile.prod .", "reg.example/app:2"),
    ("make assets && docker build -q -t 'my app' .", "my app"),
    ("docker build -t first . && docker build -t second .", "second"),
    ("DOCKER_BUILDKIT=1 /usr/bin/docker build -t kit .", "kit"),
    ("docker image build -t img .", "img"),
    ("docker buildx build --load -t bx .", "bx"),
    ("podman build -t pod .", "pod"),
    ("docker build -t app .; echo done", "app"),
])
def test_image_tag_found(command, tag):
    assert image_tag(command) == tag


@pytest.mark.parametrize("command", [
    "docker build .", "make image", "docker run -t app build", "echo docker build -t x",
    "docker build -t", "docker build 'unterminated",
])
def test_image_tag_absent(command):
    assert image_tag(command) is None


def test_no_tag_and_no_image_is_a_clear_error(tmp_path):
    recording = RecordingExecutor()
    with pytest.raises(OtterError, match="image=NAME"):
        acquire(build(path=".", command="docker build ."),
                context(recording, tmp_path, tmp_path / "cache"))
    assert recording.commands == []  # found out before anything runs


# --- builders: exact argv ---

def test_git_builders_argv():
    assert git.clone_mirror("https://x/app.git", "/c/app.git").argv == (
        "git", "clone", "--mirror", "--quiet", "--", "https://x/app.git", "/c/app.git")
    assert git.fetch("/c/app.git").argv == (
        "git", "--git-dir", "/c/app.git", "fetch", "--prune", "--quiet", "origin")
    assert git.rev_parse("/c/app.git", "v1").argv == (
        "git", "--git-dir", "/c/app.git", "rev-parse", "--verify", "--quiet",
        "--end-of-options", "v1^{commit}")
    assert git.export("/c/app.git", "abc", "/b/abc").argv[-3:] == ("/c/app.git", "abc", "/b/abc")
    assert git.work_tree_commit("/src").argv[-1] == "/src"


def test_repo_build_runs_these_commands_in_order(tmp_path):
    commit = "c" * 40
    recording = RecordingExecutor(responses={"test -d": 1, "rev-parse": commit + "\n"})
    images = FakeImages()
    artifact = acquire(build(repo="https://example.invalid/team/app.git", ref="main",
                             command="docker build -t app ."),
                       context(recording, tmp_path, Path("/c"), images=images))
    key = cache_key("https://example.invalid/team/app.git")
    mirror, build_dir = f"/c/repos/{key}.git", f"/c/builds/{key}/{commit}"
    argvs = [c.argv for c in recording.commands]
    assert argvs[0][:2] == ("sh", "-c") and argvs[0][-2:] == ("/", "/c")  # .otter 0700
    argvs = argvs[1:]
    assert argvs[0] == ("test", "-d", mirror)
    assert argvs[2] == git.clone_mirror("https://example.invalid/team/app.git",
                                        mirror + ".partial").argv
    assert argvs[3] == ("mv", "-T", "--", mirror + ".partial", mirror)
    assert argvs[4] == git.rev_parse(mirror, "main").argv
    assert argvs[5] == ("test", "-d", build_dir)
    assert argvs[6] == git.export(mirror, commit, build_dir).argv
    assert argvs[7] == git.prune_exports(f"/c/builds/{key}", 3, commit).argv
    assert argvs[8] == ("sh", "-c", "docker build -t app .")
    assert recording.commands[9].cwd == build_dir
    assert len(argvs) == 9 and images.asked == ["app"]  # the id from the image store
    assert artifact == Artifact("image", DIGEST, image="app", commit=commit,
                                ref="main", source="https://example.invalid/team/app.git")


def test_build_that_makes_no_image_is_a_clear_error(tmp_path):
    with pytest.raises(OtterError, match="made no image 'app'"):
        acquire(build(path=".", command="true", image="app"),
                context(LocalExecutor(), tmp_path, tmp_path / "c", images=FakeImages(None)))


# --- cache key and URLs ---

def test_cache_key_is_stable_readable_and_distinct():
    key = cache_key("https://github.com/user/myapp.git")
    assert key == cache_key("https://github.com/user/myapp.git")
    assert key.startswith("myapp-") and len(key) == len("myapp-") + 16
    assert key.endswith(hashlib.sha256(b"https://github.com/user/myapp.git").hexdigest()[:16])
    assert key != cache_key("https://github.com/other/myapp.git")
    assert cache_key("/srv/a b/x").startswith("x-")


def test_resolve_url(tmp_path):
    assert resolve_url("https://h/r.git", tmp_path) == "https://h/r.git"
    assert resolve_url("git@github.com:u/r.git", tmp_path) == "git@github.com:u/r.git"
    assert resolve_url("/abs/r.git", tmp_path) == "/abs/r.git"
    assert resolve_url("../r.git", tmp_path / "d") == str(tmp_path / "r.git")


# --- refs on a real local repository ---

def test_refs_resolve_to_full_commits(repo, tmp_path):
    local = LocalExecutor()
    checkout(local, repo["url"], "main", tmp_path / "cache")  # makes the mirror
    mirror = str(tmp_path / "cache" / "repos" / f"{cache_key(repo['url'])}.git")
    assert resolve_ref(local, mirror, "main", "u") == repo["second"]
    assert resolve_ref(local, mirror, "HEAD", "u") == repo["second"]
    assert resolve_ref(local, mirror, "dev", "u") == repo["first"]
    assert resolve_ref(local, mirror, "v1", "u") == repo["first"]  # annotated tag peeled
    assert resolve_ref(local, mirror, repo["first"][:8], "u") == repo["first"]
    assert resolve_ref(local, mirror, repo["second"], "u") == repo["second"]
    with pytest.raises(OtterError, match="'nope' not found in u"):
        resolve_ref(local, mirror, "nope", "u")
    with pytest.raises(OtterError, match="not found"):
        resolve_ref(local, mirror, "--help", "u")


def test_clone_once_then_fetch_and_reuse_export(repo, tmp_path):
    spy, cache = Spy(), tmp_path / "cache"
    folder, commit = checkout(spy, repo["url"], "v1", cache)
    assert commit == repo["first"]
    assert (folder / "app.txt").read_text() == "one\n" and not (folder / ".git").exists()
    exports = lambda: [a for a in spy.argvs if a[:3] == ["sh", "-c", git.EXPORT_SCRIPT]]
    assert spy.git_verbs() == ["clone", "rev-parse"] and len(exports()) == 1
    spy.argvs.clear()
    again, _ = checkout(spy, repo["url"], "v1", cache)
    assert again == folder and spy.git_verbs() == ["remote", "fetch", "rev-parse"] and not exports()
    new = commit_file(repo["work"], "app.txt", "three\n", "three")
    sh("git", "push", "-q", repo["url"], "main", cwd=repo["work"])
    folder3, commit3 = checkout(spy, repo["url"], "main", cache)
    assert commit3 == new and (folder3 / "app.txt").read_text() == "three\n"


def test_export_of_a_bad_commit_fails_and_leaves_nothing(repo, tmp_path):
    result = LocalExecutor().run(git.export(repo["url"], "0" * 40, str(tmp_path / "out")))
    assert not result.ok and sorted(p.name for p in tmp_path.iterdir()) == ["app.git", "work"]


def test_unclonable_repo_is_a_clear_error(tmp_path):
    with pytest.raises(OtterError, match="cannot clone .*nothing-here"):
        checkout(LocalExecutor(), str(tmp_path / "nothing-here"), "main", tmp_path / "cache")
    repos = tmp_path / "cache" / "repos"
    assert not repos.exists() or not list(repos.iterdir())  # no half clone left


def test_unknown_ref_is_a_clear_error(repo, tmp_path):
    with pytest.raises(OtterError, match="ref 'v9' not found"):
        checkout(LocalExecutor(), repo["url"], "v9", tmp_path / "cache")


# --- path builds, files, failures ---

def test_path_build_records_commit_and_dirty(repo, tmp_path):
    work = repo["work"]
    ctx = context(LocalExecutor(), work.parent, work / ".otter" / "c", lambda line: None)
    (work / ".otter").mkdir()
    source = build(path="work", command="mkdir -p dist && cp app.txt dist/out", image="app")
    artifact = acquire(source, ctx)
    assert artifact.commit == repo["second"]  # .otter/ does not count; dist/ comes later
    assert artifact.form == "image" and artifact.digest == DIGEST
    assert artifact.source == str(work) and artifact.ref is None
    (work / "app.txt").write_text("changed\n")
    assert acquire(source, ctx).commit == repo["second"] + "-dirty"
    plain = tmp_path / "plain"
    plain.mkdir()
    assert acquire(build(path=str(plain), command="echo x > f", image="app"),
                   ctx).commit is None


def test_file_output_is_kept_in_the_cache_under_its_digest(tmp_path):
    artifact = acquire(build(path=".", command="printf 'hello' > out.bin", output="out.bin"),
                       context(LocalExecutor(), tmp_path, tmp_path / "c"))
    hexes = hashlib.sha256(b"hello").hexdigest()
    assert artifact.form == "file" and artifact.digest == f"sha256:{hexes}"
    assert artifact.path == tmp_path / "c" / "artifacts" / "sha256" / hexes
    assert artifact.path.read_bytes() == b"hello"


def test_a_missing_output_file_is_a_clear_error(tmp_path):
    with pytest.raises(OtterError, match="the build made no file"):
        acquire(build(path=".", command="true", output="nope.tar.gz"),
                context(LocalExecutor(), tmp_path, tmp_path / "c"))


def test_a_docker_save_archive_output_ships_as_its_image(tmp_path):
    import io
    import json
    import tarfile
    config = "ab" * 32
    with tarfile.open(tmp_path / "app.tar", "w") as archive:
        data = json.dumps([{"Config": f"blobs/sha256/{config}", "RepoTags": ["app:1"],
                            "Layers": []}]).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        archive.addfile(info, io.BytesIO(data))
    artifact = acquire(build(path=".", command="true", output="app.tar"),
                       context(LocalExecutor(), tmp_path, tmp_path / "c"))
    assert artifact.form == "image" and artifact.digest == f"sha256:{config}"
    assert artifact.path is not None and artifact.path.is_file()


def test_failing_build_raises_with_the_tail(tmp_path):
    command = "for i in $(seq 1 30); do echo line $i; done; echo boom >&2; exit 3"
    seen = []
    with pytest.raises(BuildFailed) as failure:
        acquire(build(path=".", command=command, image="app"),
                context(LocalExecutor(), tmp_path, tmp_path / "c", seen.append))
    error = failure.value
    assert error.exited == 3 and error.source == str(tmp_path)
    assert error.tail[-1] == "boom" and "line 30" in error.tail and "line 1" not in error.tail
    assert "exit 3" in str(error) and str(tmp_path) in str(error) and "boom" in str(error)
    assert len(seen) == 31 and isinstance(error, OtterError)


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(OtterError, match="cannot use folder"):
        acquire(build(path="nope", command="true", image="x"),
                context(LocalExecutor(), tmp_path, tmp_path / "c"))


# --- the source's checks, form and what this version cannot deploy ---

def test_build_is_the_source_of_build_values():
    assert KINDS[Build] is SOURCE and source_for(build(path=".", command="x")) is SOURCE
    assert SOURCE.name == "build"


@pytest.mark.parametrize("value, path", [
    (build(command="make"), "repo"),
    (build(repo="r", path="p", command="make"), "repo"),
    (build(repo="r"), "command"),
    (build(path="p", command=["make"]), "command"),
    (build(repo=1, command="make"), "repo"),
    (build(path="p", command="make", ref=2), "ref"),
    (build(path="p", command="make", image=3), "image"),
])
def test_check_names_the_field(value, path):
    with pytest.raises(FieldError) as info:
        SOURCE.check(value)
    assert info.value.path == path


def test_check_form_and_unsupported():
    image = build(repo="r", ref="main", command="docker build -t app .")
    assert SOURCE.check(image) is image
    assert SOURCE.form(image) == "image" and SOURCE.unsupported(image) is None
    output = build(path="p", command="make", output="dist/app")
    assert SOURCE.form(output) == "file" and SOURCE.unsupported(output) is None
    assert "not supported by this version" in \
        SOURCE.unsupported(build(repo="https://x.test/r", command="make", on="builder",
                                 via="url"))
    assert SOURCE.unsupported(build(path="p", command="make -t", image="a",
                                    push="reg.test/app")) is None


def test_acquire_through_the_source(tmp_path):
    artifact = SOURCE.acquire(build(path=".", command="true", image="app"),
                              context(LocalExecutor(), tmp_path, tmp_path / "c"))
    assert artifact == Artifact("image", DIGEST, image="app", commit=None,
                                source=str(tmp_path))


def test_old_exports_are_pruned_but_the_one_in_use_stays(tmp_path):
    folder = tmp_path / "builds" / "app-x"
    for index, name in enumerate(["a", "b", "c", "d", "e"]):
        (folder / name).mkdir(parents=True)
        os.utime(folder / name, (1000 + index, 1000 + index))  # a oldest, e newest
    assert LocalExecutor().run(git.prune_exports(str(folder), 2, "a")).ok
    assert sorted(p.name for p in folder.iterdir()) == ["a", "d", "e"]


def test_two_otters_in_one_folder_take_turns_on_the_cache(tmp_path):
    import threading
    from otterfile.artifacts.cache_lock import cache_lock
    said, order = [], []
    with cache_lock(tmp_path / ".otter" / "cache", said.append):
        worker = threading.Thread(target=lambda: _hold(tmp_path, order))
        worker.start()
        worker.join(1.0)
        assert worker.is_alive() and order == []  # waiting for us
        order.append("first")
    worker.join(10)
    assert order == ["first", "second"]
    assert oct((tmp_path / ".otter").stat().st_mode & 0o777) == "0o700"
    with pytest.raises(OtterError, match="another otter has been building"):
        with cache_lock(tmp_path / ".otter" / "cache", said.append):
            with cache_lock(tmp_path / ".otter" / "cache", said.append, wait=0.6):
                pass
    assert any("waiting for another otter" in line for line in said)


def _hold(tmp_path, order):
    from otterfile.artifacts.cache_lock import cache_lock
    with cache_lock(tmp_path / ".otter" / "cache", lambda line: None):
        order.append("second")

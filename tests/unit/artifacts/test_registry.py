"""registry(...) and build(push=...) offline: reference parsing and checks, the pull and
push commands (the password only on stdin, masked in every display), the pull and push
scripts run for real against a fake engine, the pinning of a run's digest across targets,
the plan, and the seams a registry release passes through (run by name, rollback, prune)."""
from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from otterfile.transfer.images import ControllerStore
from otterfile.artifacts import source_for
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.build import SOURCE as BUILD
from otterfile.artifacts.image_ref import BadRef, Ref, familiar, parse_ref, pinned_name
from otterfile.artifacts.registry import SOURCE, Pin, Pull
from otterfile.transfer.ship import ship
from otterfile.cli import main
from otterfile.command import Command
from otterfile.commands import container, registries
from otterfile.errors import OtterError
from otterfile.executors.base import Result
from otterfile.executors.local import LocalExecutor
from otterfile.executors.recording import RecordingExecutor
from otterfile.hosts import LocalHost
from otterfile.load.model import build, registry
from otterfile.runtimes import docker, podman, systemd
from otterfile.secrets import Secret, secret
from otterfile.load.validate import FieldError
from otterfile.values import Pulled
from tests.fakes import executable

pytestmark = pytest.mark.unit

PASSWORD = "hunter2-registry-secret"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64


# ---- references -------------------------------------------------------------------------

@pytest.mark.parametrize("text, ref", [
    ("target1:5000/app:v1", Ref("target1:5000", "app", "v1")),
    ("registry.example.com/team/app", Ref("registry.example.com", "team/app")),
    ("localhost/app:1.2-rc_3", Ref("localhost", "app", "1.2-rc_3")),
    ("nginx", Ref(None, "nginx")),
    ("library/nginx:1.25", Ref(None, "library/nginx", "1.25")),
    ("[::1]:5000/app:x", Ref("[::1]:5000", "app", "x")),
    (f"reg.test/app@{D1}", Ref("reg.test", "app", None, D1)),
    (f"reg.test:443/a/b-c__d.e:t@{D2}", Ref("reg.test:443", "a/b-c__d.e", "t", D2)),
])
def test_references_parse_as_the_engines_read_them(text, ref):
    assert parse_ref(text) == ref and str(ref) == text


def test_what_a_reference_names():
    ref = parse_ref("target1:5000/app")
    assert (ref.name, ref.server, ref.by_tag) == ("target1:5000/app", "target1:5000",
                                                  "target1:5000/app:latest")
    assert ref.pinned(D1) == f"target1:5000/app@{D1}"
    assert parse_ref("nginx:1").server == "docker.io"


@pytest.mark.parametrize("text, said", [
    ("http://reg.test/app:1", "no URL scheme"),
    ("reg.test/App:1", "repository name 'App' is not valid"),
    ("reg.test/app:-x", "the tag '-x' is not valid"),
    ("reg.test/app@sha256:abc", "64 lower-case hex"),
    ("reg.test/app@md5:" + "a" * 32, "after '@' expected sha256:"),
    ("reg.test/app 1", "spaces"),
    ("-reg.test/app", "leading '-'"),
    ("reg_test:5000/app", "is not a registry host"),
    ("reg.test//app", "is not valid"),
    ("", "expected an image reference"),
    (None, "expected an image reference"),
    ("a" * 300, "at most 255"),
])
def test_bad_references_say_what_is_wrong(text, said):
    with pytest.raises(BadRef, match=None) as caught:
        parse_ref(text)
    assert said in str(caught.value)


def test_docker_hub_names_compare_in_full():
    assert familiar("nginx") == familiar("docker.io/library/nginx") == \
        familiar("index.docker.io/library/nginx") == "docker.io/library/nginx"
    assert familiar("team/app") == "docker.io/team/app"
    assert familiar("target1:5000/app") == "target1:5000/app"


def test_a_pinned_name_from_a_state_file_is_used_only_for_its_own_digest():
    assert pinned_name(f"reg.test/app@{D1}", D1) == f"reg.test/app@{D1}"
    for image in (f"reg.test/app@{D2}", "app:1", "", None, f"--privileged@{D1}",
                  f"reg.test/app:1@{D1}", f"reg test/app@{D1}"):
        assert pinned_name(image, D1) is None, image


# ---- the Otterfile's values ---------------------------------------------------------------

def test_registry_is_an_image_source_deployable_by_container_runtimes():
    value = registry("reg.test/app:1")
    assert source_for(value) is SOURCE and SOURCE.check(value) is value
    assert SOURCE.form(value) == "image" and SOURCE.unsupported(value) is None
    assert "image" in docker.RUNTIME.forms and "image" not in systemd.RUNTIME.forms
    assert SOURCE.warnings(value) == []
    assert "names no tag" in SOURCE.warnings(registry("reg.test/app"))[0]
    assert SOURCE.warnings(registry(f"reg.test/app@{D1}")) == []


@pytest.mark.parametrize("value, path, said", [
    (registry("http://reg.test/a"), "ref", "no URL scheme"),
    (registry("reg.test/a:1", username="u", password=PASSWORD), "password",
     'expected secret("NAME")'),
    (registry("reg.test/a:1", username="u"), "password", "give both"),
    (registry("reg.test/a:1", password=secret("P")), "username", "give both"),
    (registry("reg.test/a:1", username="u v", password=secret("P")), "username", "spaces"),
    (registry(42), "ref", "got 42"),
])
def test_registry_checks_name_the_field(value, path, said):
    with pytest.raises(FieldError) as caught:
        SOURCE.check(value)
    assert caught.value.path == path and said in caught.value.message
    assert PASSWORD not in str(caught.value)


IMAGE = dict(path=".", command="docker build -t app:3 .")


@pytest.mark.parametrize("options, path, said", [
    (dict(push="http://reg.test/app"), "push", "no URL scheme"),
    (dict(push=f"reg.test/app@{D1}"), "push", "the registry gives the digest"),
    (dict(push="reg.test/app", pull_from="other.test/app:1"), "pull_from",
     "without tag or digest"),
    (dict(pull_from="other.test/app"), "pull_from", "give push= too"),
    (dict(username="u", password=secret("P")), "password", "this build has none"),
    (dict(push="reg.test/app", username="u", password="plain"), "password",
     'expected secret("NAME")'),
    (dict(push="reg.test/app", output="app.tar"), "push", "this build makes a file"),
])
def test_build_push_checks(options, path, said):
    with pytest.raises(FieldError) as caught:
        BUILD.check(build(**{**IMAGE, **options}))
    assert caught.value.path == path and said in caught.value.message


def test_build_push_is_deployable():
    value = build(**IMAGE, push="127.0.0.1:5003/app", pull_from="target3:5000/app",
                  username="u", password=secret("P"))
    assert BUILD.check(value) is value and BUILD.unsupported(value) is None
    assert BUILD.form(value) == "image"


# ---- the commands -------------------------------------------------------------------------

def test_the_password_goes_only_to_stdin_and_shows_masked():
    command = registries.pull("docker", "reg.test/app:1", server="reg.test", username="u",
                             password=Secret("P", PASSWORD))
    assert PASSWORD not in " ".join(command.argv_values())
    assert command.stdin_bytes() == PASSWORD.encode() and command.secret
    shown = command.display() + command.description
    assert PASSWORD not in shown and "(secret)" in command.display()
    assert command.description == ("pull reg.test/app:1: docker login reg.test --username u "
                                   "--password-stdin <<< ***; docker pull reg.test/app:1")
    anonymous = registries.pull("podman", "reg.test/app:1", pinned=f"reg.test/app@{D1}")
    assert anonymous.stdin is None
    assert anonymous.description == f"pull reg.test/app@{D1}: podman pull reg.test/app@{D1}"
    pushed = registries.push("docker", D1, "reg.test/app:1", server="reg.test", username="u",
                            password=Secret("P", PASSWORD))
    assert PASSWORD not in " ".join(pushed.argv_values()) + pushed.display()
    assert pushed.stdin_bytes() == PASSWORD.encode()
    assert pushed.description.startswith("push reg.test/app:1: docker login reg.test "
                                         "--username u --password-stdin <<< ***; docker tag")


# A stand-in engine: logs argv, stdin of `login` and the config variables it saw.
FAKE = r"""#!/bin/sh
d=$(dirname "$0")
echo "$* | DOCKER_CONFIG=${DOCKER_CONFIG:-} REGISTRY_AUTH_FILE=${REGISTRY_AUTH_FILE:-}" \
  >> "$d/calls"
case "$1 $2" in
  "login --username")
    cat > "$d/stdin"; [ -n "$DOCKER_CONFIG" ] && [ -d "$DOCKER_CONFIG" ] || exit 9
    echo "$DOCKER_CONFIG" > "$d/config"; touch "$DOCKER_CONFIG/config.json"
    [ "$(cat "$d/stdin")" = "$(cat "$d/password")" ] || { echo "unauthorized: bad" >&2; exit 1; }
    echo "Login Succeeded" ;;
  "image inspect")
    for a; do ref=$a; done
    case "$3" in
      --format) [ -f "$d/has" ] || exit 1
        case "$4" in own*) echo "own $(cat "$d/own" 2>/dev/null)" ;;
                     *) cat "$d/has"; echo ;; esac ;;
      *) grep -qx "$ref" "$d/has" 2>/dev/null || exit 1 ;;
    esac ;;
  "images --digests") cat "$d/before" 2>/dev/null ;;
  "pull "*)
    [ -f "$d/nope" ] && { echo "manifest unknown: manifest unknown" >&2; exit 1; }
    echo "Digest: $(cat "$d/served")"; echo "Status: Downloaded newer image for $2"
    echo "reg.test/app@$(cat "$d/served")" > "$d/has" ;;
  "tag "*) ;;
  "push "*) echo "1: digest: $(cat "$d/served") size: 527" ;;
esac
"""


@pytest.fixture
def engine(tmp_path):
    folder = tmp_path / "engine"
    folder.mkdir()
    path = folder / "docker"
    executable(path, FAKE)
    (folder / "password").write_text(PASSWORD)
    (folder / "served").write_text(D1)
    return path


def calls(engine: Path) -> list[str]:
    file = engine.parent / "calls"
    return file.read_text().splitlines() if file.exists() else []


def run_pull(engine: Path, password: str | None = PASSWORD, **options) -> Result:
    login = {} if password is None else dict(server="reg.test", username="u",
                                             password=Secret("P", password))
    return LocalExecutor().run(registries.pull(str(engine), "reg.test/app:1", **login,
                                              **options))


def test_the_pull_script_logs_in_from_stdin_into_a_config_it_removes(engine):
    result = run_pull(engine)
    assert result.ok, result.stderr
    assert (engine.parent / "stdin").read_text() == PASSWORD  # read from stdin
    assert not any(PASSWORD in line for line in calls(engine))  # never an argument
    config = (engine.parent / "config").read_text().strip()
    assert config and not os.path.exists(config)  # the temporary config is gone
    login, pull = [c for c in calls(engine) if c.startswith(("login", "pull"))]
    assert login.startswith("login --username u --password-stdin reg.test |")
    assert f"DOCKER_CONFIG={config} REGISTRY_AUTH_FILE={config}/auth.json" in pull
    pulled = registries.parse_pulled(result.stdout)
    assert not pulled.present and pulled.digests == (D1,)
    assert pulled.repo_digests == (("reg.test/app", D1),)


def test_without_a_login_the_engines_own_config_is_used(engine):
    assert run_pull(engine, password=None).ok
    assert [c.split(" | ")[1] for c in calls(engine) if c.startswith("pull")] == \
        ["DOCKER_CONFIG= REGISTRY_AUTH_FILE="]


def test_a_refused_login_and_a_failed_pull_exit_apart(engine):
    refused = run_pull(engine, password="wrong")
    assert refused.exited == registries.EXIT_LOGIN and "unauthorized" in refused.stderr
    assert not any(c.startswith("pull") for c in calls(engine))
    config = (engine.parent / "config").read_text().strip()
    assert not os.path.exists(config)  # removed on the failure path too
    (engine.parent / "nope").touch()
    missing = run_pull(engine)
    assert missing.exited == registries.EXIT_PULL and "manifest unknown" in missing.stderr


def test_a_pinned_image_the_target_has_is_not_pulled(engine):
    (engine.parent / "has").write_text(f"reg.test/app@{D1}\n")
    result = run_pull(engine, pinned=f"reg.test/app@{D1}")
    assert result.ok and registries.parse_pulled(result.stdout).present
    assert not any(c.startswith(("login", "pull")) for c in calls(engine))


def test_what_the_engine_had_before_is_listed(engine):
    (engine.parent / "before").write_text(f"reg.test/app@{D1}\nother@<none>\n")
    pulled = registries.parse_pulled(run_pull(engine, password=None).stdout)
    assert pulled.before == (("reg.test/app", D1),)
    assert Pull(parse_ref("reg.test/app:1")).had(pulled, D1)


def test_the_push_script_tags_pushes_and_prints_the_digest(engine):
    command = registries.push(str(engine), D2, "reg.test/app:1", server="reg.test",
                             username="u", password=Secret("P", PASSWORD))
    result = LocalExecutor().run(command)
    assert result.ok, result.stderr
    assert registries.parse_pushed(result.stdout) == D1
    assert [c.split(" | ")[0] for c in calls(engine)][-3:] == [
        "login --username u --password-stdin reg.test", f"tag {D2} reg.test/app:1",
        "push reg.test/app:1"]
    assert (engine.parent / "stdin").read_text() == PASSWORD


def test_which_digest_a_pull_by_tag_pins():
    pull = Pull(parse_ref("nginx:1"))
    docker_said = Pulled(False, digests=(D1,), repo_digests=(("nginx", D2),))
    assert pull.choose(docker_said, "h") == D1  # docker's "Digest:" line
    podman_list = Pulled(False, repo_digests=(
        ("docker.io/library/nginx", D1), ("docker.io/library/nginx", D2)), own=D1)
    assert pull.choose(podman_list, "h") == D2  # the list's, not the instance's
    other = Pulled(False, repo_digests=(("mirror.test/nginx", D1),))
    with pytest.raises(OtterError, match="h: pulled nginx:1 from docker.io but cannot tell"):
        pull.choose(other, "h")


# ---- ship: pinned by the first target -----------------------------------------------------

class Target(RecordingExecutor):
    """A target's engine: has the digests in `has`; a pull by tag serves `served`."""

    def __init__(self, name: str, served: str = D1, has=(), fail: int = 0, delay: float = 0):
        super().__init__(LocalHost(name))
        self.served, self.has, self.fail, self.delay = served, set(has), fail, delay

    def run(self, command: Command, **kwargs) -> Result:
        self.commands.append(command)
        args = command.argv[4:]
        pinned = args[2]
        time.sleep(self.delay)
        if self.fail:
            return Result(command, self.fail, stderr="Error response from daemon: manifest "
                          "for reg.test/app:1 not found: manifest unknown", host=self.host.name)
        if pinned and pinned.rpartition("@")[2] in self.has:
            return Result(command, 0, stdout="present\n", host=self.host.name)
        before = "".join(f"before reg.test/app@{d}\n" for d in sorted(self.has))
        got = pinned.rpartition("@")[2] if pinned else self.served
        self.has.add(got)
        return Result(command, 0, host=self.host.name, stdout=before + "pulled\n" +
                      ("" if pinned else f"digest {got}\n") + f"repo reg.test/app@{got}\n")


def acquired(ref: str = "reg.test/app:1", **login) -> Artifact:
    ctx = AcquireContext(RecordingExecutor(), None, Path("."), Path("."),  # type: ignore
                         lambda _line: None)
    return SOURCE.acquire(registry(ref, **login), ctx)


def pinned_refs(target: Target) -> list[str]:
    return [c.argv[4 + 2] or c.argv[4 + 1] for c in target.commands]


@pytest.mark.parametrize("runtime", [docker.RUNTIME, podman.RUNTIME], ids=lambda r: r.name)
def test_the_first_target_pins_the_digest_the_others_pull(runtime):
    artifact = acquired()
    assert artifact.digest == "" and artifact.image == "reg.test/app:1"
    one, two = Target("one", served=D1), Target("two", served=D2)  # the tag moved between
    first = ship(artifact, runtime, one, None)  # type: ignore[arg-type]
    second = ship(artifact, runtime, two, None)  # type: ignore[arg-type]
    assert pinned_refs(one) == ["reg.test/app:1"] and pinned_refs(two) == [f"reg.test/app@{D1}"]
    assert first.shipped and second.shipped and first.bytes == second.bytes == 0
    for done in (first, second):  # what the release records and the runtime runs
        assert done.artifact.digest == D1 and done.artifact.image == f"reg.test/app@{D1}"
        assert runtime.image_ref(done.artifact) == f"reg.test/app@{D1}"
    again = ship(artifact, runtime, two, None)  # type: ignore[arg-type]
    assert not again.shipped and again.artifact.digest == D1


def test_while_the_first_target_resolves_the_others_wait():
    artifact, done = acquired(), {}
    targets = [Target(f"t{i}", served=f"sha256:{i}" + "0" * 63, delay=0.05) for i in range(4)]

    def deploy(target):
        done[target.host.name] = ship(artifact, docker.RUNTIME, target, None).artifact.digest

    threads = [threading.Thread(target=deploy, args=(t,)) for t in targets]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(done.values())) == 1  # every target runs what the first one resolved
    by_tag = [t for t in targets if pinned_refs(t) == ["reg.test/app:1"]]
    assert len(by_tag) == 1


def test_a_target_that_had_the_tags_digest_pulled_nothing_new():
    artifact = acquired()
    result = ship(artifact, docker.RUNTIME, Target("one", served=D1, has={D1}), None)
    assert not result.shipped and result.artifact.digest == D1


def test_a_reference_pinned_in_the_file_is_never_resolved_by_tag():
    artifact = acquired(f"reg.test/app:1@{D2}")
    assert artifact.digest == D2 and artifact.image == f"reg.test/app@{D2}"
    target = Target("one")
    assert ship(artifact, docker.RUNTIME, target, None).artifact.digest == D2
    assert pinned_refs(target) == [f"reg.test/app@{D2}"]


def test_a_failed_pull_names_the_host_the_reference_and_the_registry():
    artifact = acquired()
    with pytest.raises(OtterError) as caught:
        ship(artifact, docker.RUNTIME, Target("one", fail=registries.EXIT_PULL), None)
    assert str(caught.value).startswith("one: cannot pull reg.test/app:1 from the registry "
                                        "reg.test: Error response from daemon: manifest")
    assert artifact.pull.pin.digest is None  # the next target tries the tag itself
    login = acquired(username="u", password=Secret("P", PASSWORD))
    with pytest.raises(OtterError) as caught:
        ship(login, docker.RUNTIME, Target("one", fail=registries.EXIT_LOGIN), None)
    assert "one: the registry reg.test refused the login as u (pulling reg.test/app:1)" in \
        str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_the_systemd_runtime_cannot_take_a_registry_image():
    with pytest.raises(OtterError, match="the systemd runtime cannot run an image artifact"):
        ship(acquired(), systemd.RUNTIME, Target("one"), None)  # type: ignore[arg-type]


# ---- build(push=...) ----------------------------------------------------------------------

class Images(ControllerStore):
    def image_id(self, ref: str) -> str | None:
        return D2


def test_build_pushes_and_pins_what_the_targets_pull(tmp_path):
    controller = RecordingExecutor(responses={
        lambda c: c.description.startswith("push "): f"progress\npushed {D1}\n"})
    ctx = AcquireContext(controller, Images(), tmp_path, tmp_path / "c",  # type: ignore
                         lambda _line: None)
    value = build(path=".", command="docker build -t app:3 .", push="127.0.0.1:5003/app",
                  pull_from="target3:5000/app", username="u",
                  password=Secret("P", PASSWORD))
    artifact = BUILD.acquire(value, ctx)
    assert artifact.digest == D1 and artifact.image == f"target3:5000/app@{D1}"
    assert artifact.pull.pin.digest == D1 and artifact.pull.ref.name == "target3:5000/app"
    assert artifact.pull.login["server"] == "target3:5000"
    pushed = controller.commands[-1]
    assert pushed.argv[4:] == ("docker", D2, "127.0.0.1:5003/app:3", "127.0.0.1:5003", "u")
    assert pushed.stdin_bytes() == PASSWORD.encode()
    target = Target("one")
    assert ship(artifact, docker.RUNTIME, target, None).artifact.digest == D1
    assert pinned_refs(target) == [f"target3:5000/app@{D1}"]  # by digest, not by tag


@pytest.mark.parametrize("where", ["controller", "builder"])
def test_a_failed_push_says_so_naming_where_it_ran(tmp_path, where):
    controller = RecordingExecutor(LocalHost(where), responses={
        lambda c: c.description.startswith("push "): Result(
            Command(("x",)), registries.EXIT_LOGIN, stderr="unauthorized")})
    ctx = AcquireContext(controller, Images(), tmp_path, tmp_path / "c",  # type: ignore
                         lambda _line: None)
    value = build(path=".", command="docker build -t app .", push="reg.test/app:7",
                  username="u", password=Secret("P", PASSWORD))
    with pytest.raises(OtterError, match=f"^{where}: cannot log in to reg.test as u: "
                       "unauthorized"):
        BUILD.acquire(value, ctx)
    assert controller.commands[-1].argv[6] == "reg.test/app:7"


# ---- plan, secrets, and the seams a registry release passes through -----------------------

FILE = '''
from otterfile import *

@artifact
def web():
    return registry("target3:5000/app:v1", username="otter", password=secret("REG_PASSWORD"))

@target
def servers():
    return [ssh("root@a"), ssh("root@b")]

@deployment
def production():
    return Deployment(artifact=web, runtime=podman(port=8080), targets=[servers],
                      domains=["app.test"])
'''


def test_plan_shows_each_targets_pull_with_the_password_masked(otterfile):
    path = otterfile(FILE)
    planned = CliRunner().invoke(main, ["-f", str(path), "plan", "production"],
                                 env={"REG_PASSWORD": PASSWORD})
    assert planned.exit_code == 0, planned.output
    login = "podman login target3:5000 --username otter --password-stdin <<< ***"
    assert f"$ pull target3:5000/app:v1: {login}; podman pull target3:5000/app:v1" in \
        planned.output
    assert f"$ pull target3:5000/app@sha256:{'0' * 64}: {login}" in planned.output
    assert f"target3:5000/app@sha256:{'0' * 64}" in planned.output.split("  start\n")[1]
    dry = CliRunner().invoke(main, ["-f", str(path), "run", "production", "--dry-run"],
                             env={"REG_PASSWORD": PASSWORD})
    assert dry.exit_code == 0, dry.output
    assert "podman pull" in dry.output
    assert PASSWORD not in planned.output + dry.output


def test_a_missing_registry_password_fails_before_anything_runs(otterfile):
    path = otterfile(FILE)
    result = CliRunner().invoke(main, ["-f", str(path), "run", "production"], env={})
    assert result.exit_code == 2
    assert "deployment production/artifact/password" in result.output
    assert "secret REG_PASSWORD is not set" in result.output


def test_secrets_of_a_source_are_read_and_masked(otterfile):
    from otterfile.plan.describe import masked_source
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    from otterfile.run.deploy import resolve_sources
    project = evaluate(load(otterfile(FILE)))
    os.environ["REG_PASSWORD"] = PASSWORD
    try:
        read = resolve_sources(project, project.select("production"))
    finally:
        del os.environ["REG_PASSWORD"]
    assert read["web"].password.reveal() == PASSWORD
    assert masked_source(project.artifacts["web"].source).password.reveal() == "***"


def test_a_registry_release_rolls_back_by_its_pinned_name():
    from otterfile.run.state import Release
    release = Release("20240102T030405-0a1b2c3d", D1, f"reg.test/app@{D1}")
    artifact = Artifact("image", release.digest, pinned_name(release.image, release.digest))
    assert docker.RUNTIME.image_ref(artifact) == f"reg.test/app@{D1}"
    assert podman.RUNTIME.image_ref(artifact) == f"reg.test/app@{D1}"
    built = Artifact("image", D1, "app:1")  # a built image still runs by its id
    assert docker.RUNTIME.image_ref(built) == D1 and podman.RUNTIME.image_ref(built) == "1" * 64


PRUNE_ENGINE = r"""#!/bin/sh
d=$(dirname "$0")
echo "$*" >> "$d/calls"
case "$1 $2" in
  "image inspect") [ "$3" = "$(cat "$d/id")" ] ;;
  "images --digests") printf 'reg.test/app@sha256:%s\nreg.test/app@<none>\n' \
    "$(cat "$d/manifest")" ;;
  "image rm") exit 0 ;;
esac
"""


def test_prune_removes_a_registry_digest_by_its_references(tmp_path):
    engine = tmp_path / "docker"
    executable(engine, PRUNE_ENGINE)
    (tmp_path / "id").write_text("a" * 64)
    (tmp_path / "manifest").write_text("1" * 64)
    result = LocalExecutor().run(container.prune_images(str(engine), ["a" * 64, D1, D2]))
    assert result.ok, result.stderr
    assert result.stdout.splitlines() == [f"removed {'a' * 64}", f"removed reg.test/app@{D1}"]


def test_podman_lists_a_running_container_in_its_own_words():
    line = "otter-production-r1\tUp 4 seconds ago\tr1\tsha256:0a\tUp 4 seconds ago\n"
    assert container.parse_containers(line)[0].running
    assert not container.parse_containers(line.replace("Up 4", "Exited (0) 4"))[0].running


def test_the_pin_is_shared_by_the_artifacts_of_one_run():
    pull = Pull(parse_ref("reg.test/app:1"), pin=Pin())
    assert Pull(parse_ref("reg.test/app:1")) == pull  # the pin is no part of equality
    assert PASSWORD not in repr(Pull(parse_ref("a.test/b"), "u", Secret("P", PASSWORD)))

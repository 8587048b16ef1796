"""image(REF): an image already in the controller's Docker engine. Its checks as evaluation
reports them, acquire against a fake controller store, the plan, and a run against
recording targets: it ships as a built image does, and a missing image stops the run before
any target is asked anything. Nothing runs; no Docker engine is needed."""
from __future__ import annotations

import io
import re

import pytest
from click.testing import CliRunner

from otterfile.artifacts import source_for
from otterfile.artifacts.base import AcquireContext, Artifact
from otterfile.artifacts.image import SOURCE, Image, image
from otterfile.cli import main
from otterfile.errors import OtterError, OtterfileError
from otterfile.executors.recording import RecordingExecutor
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.plan.planner import plan
from otterfile.run.deploy import execute
from otterfile.run.engine import Engine
from otterfile.run.runner import FAILED, SKIPPED
from otterfile.transfer.images import ControllerStore
from tests.unit.run.test_flow import answers, verbs

pytestmark = pytest.mark.unit

ID = "sha256:" + "ab" * 32
OTTERFILE = '''from otterfile import *

@artifact
def web():
    return {source}

@deployment
def production():
    return Deployment(artifact=web, runtime=docker(port=8080), targets=[ssh("root@web1")],
                      domains=["app.test"])
'''


class Images(ControllerStore):
    """The controller's engine: it has `ID` under every name (or nothing), saves a few bytes,
    and keeps what it was asked."""

    def __init__(self, found: str | None = ID):
        self.found, self.asked, self.saved = found, [], []

    def image_id(self, ref):
        self.asked.append(ref)
        return self.found

    def size(self, image_id):
        return 5

    def layers(self, image_id):
        return []

    def save(self, image_id):
        self.saved.append(image_id)
        return io.BytesIO(b"image")


def acquire(ref: str, images: Images | None = None) -> Artifact:
    context = AcquireContext(RecordingExecutor(), images or Images(), None, None, print)
    return SOURCE.acquire(image(ref), context)


def evaluated(tmp_path, source: str):
    (tmp_path / "Otterfile.py").write_text(OTTERFILE.format(source=source))
    return evaluate(load(tmp_path / "Otterfile.py"))


def test_the_dsl_value_is_the_source_row():
    assert image("app:1") == Image("app:1")
    assert source_for(Image("app:1")) is SOURCE and SOURCE.form(Image("app:1")) == "image"


@pytest.mark.parametrize("ref", ["app", "app:1.4", "registry.example.test:5000/team/app:v2",
                                 "sha256:" + "0" * 64, "0" * 64, "3f2a1b4c5d6e",
                                 "app@sha256:" + "1" * 64])
def test_names_tags_and_ids_are_accepted(tmp_path, ref):
    project = evaluated(tmp_path, f"image({ref!r})")
    dep = project.deployments["production"]
    assert dep.artifact.source == Image(ref) and dep.unsupported is None


@pytest.mark.parametrize("source,why", [
    ("image(42)", "expected a non-empty string, got 42"),
    ('image("")', "expected a non-empty string, got ''"),
    ('image("App:1")', "the repository name 'App' is not valid"),
    ('image("http://host/app:1")', "an image reference has no URL scheme"),
    ('image("app:1 --rm")', "spaces, quotes, control characters"),
    ('image("app@sha256:12")', "after '@' expected sha256:"),
])
def test_a_bad_reference_names_the_file_line_and_field(tmp_path, source, why):
    with pytest.raises(OtterfileError) as raised:
        evaluated(tmp_path, source)
    text = str(raised.value)
    assert text.startswith(f"{tmp_path / 'Otterfile.py'}:3: artifact web/ref: "), text
    assert why in text and "recipe" not in text, text  # otter's own check, not a recipe's


def test_acquire_asks_the_controller_engine_for_the_image_id():
    images = Images()
    made = acquire("app:1.4", images)
    assert made == Artifact("image", ID, image="app:1.4", source="app:1.4")
    assert images.asked == ["app:1.4"] and images.saved == []  # ship saves it, not acquire


@pytest.mark.parametrize("ref,name", [
    ("app", "app"),  # the engine's `app:latest`, tagged so on the targets as well
    ("host:5000/app:2@sha256:" + "1" * 64, "host:5000/app:2"),
    ("app@sha256:" + "1" * 64, None),  # a digest alone: the targets run it by id
    (ID, None), (ID.removeprefix("sha256:"), None), (ID[7:19], None),  # by its id
    ("abcdef012345", "abcdef012345"),  # hex, but not this image's id: a repository's name
])
def test_the_name_the_targets_tag_it_with(ref, name):
    assert acquire(ref).image == name and acquire(ref).digest == ID


def test_a_missing_image_names_the_reference_and_what_to_do():
    with pytest.raises(OtterError) as raised:
        acquire("app:1.4", Images(found=None))
    assert str(raised.value).startswith("image('app:1.4'): the controller's Docker engine has "
                                        "no such image; build it")


def test_the_plan_ships_it_as_an_image_and_names_it(tmp_path):
    evaluated(tmp_path, 'image("app:1.4")')
    result = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "plan",
                                       "production"])
    assert result.exit_code == 0, result.output
    assert "docker: image=app:1.4, port=8080" in result.output
    ship = result.output.split("    ship\n")[1].split("    start\n")[0]
    assert ship.split("\n") == ["      $ look for app:1.4", "      $ docker load",
                                "      $ look for app:1.4", ""]
    listed = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "list"])
    assert "artifact    web         image" in listed.output
    assert "warning" not in result.output  # a name in the engine is no unpinned download


CREATED = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00")  # a release's start, by the clock


def run(tmp_path, source: str, images: Images):
    """`otter run production` against a scripted fresh target (test_flow's) and the fake
    controller store: (outcome, executors by host, events, each target command as shown)."""
    project = evaluated(tmp_path, source)
    made: dict[str, RecordingExecutor] = {}
    target = answers()

    def connect(host, _folder):
        return made.setdefault(host.name, target(host) if host.name != "controller"
                               else RecordingExecutor(host))
    events = []
    engine = Engine(project, events.append, connect=connect, images=images,
                    release_id=lambda digest: "R1")
    done = execute(plan(project, ["production"]), engine, None)
    shown = [CREATED.sub("TIME", c.display().replace(engine.run_id, "RUN"))
             for c in made["web1"].commands] if "web1" in made else []
    return done.outcome, made, events, shown


def test_it_ships_exactly_as_a_built_image_does(tmp_path):
    built_images, images = Images(), Images()
    _, _, _, built = run(tmp_path, 'build(path=".", command="docker build -t app:1.4 .")',
                         built_images)
    outcome, made, _, shown = run(tmp_path, 'image("app:1.4")', images)
    assert outcome.ok, outcome.errors
    # every round trip to the target byte for byte, but the deploy log's times
    assert shown[:-1] == built[:-1] and "append to the deploy log" in verbs(made["web1"])[-1]
    assert verbs(made["web1"])[1:3] == ["docker load", "look for app:1.4"]  # loaded, tagged
    assert images.saved == built_images.saved == [ID]  # the same stream, by image id
    assert made["controller"].commands == []  # nothing built, nothing run on the controller


def test_a_missing_image_stops_the_run_before_any_target_is_asked(tmp_path):
    outcome, made, events, _ = run(tmp_path, 'image("app:1.4")', Images(found=None))
    assert outcome.status["acquire:web"] == FAILED
    assert outcome.status["production/lock@web1"] == SKIPPED
    assert "web1" not in made or made["web1"].commands == []
    failed = [e.message for e in events if e.status == FAILED]
    assert failed == ["artifact web of production: image('app:1.4'): the controller's Docker "
                      "engine has no such image; build it (docker build -t NAME .) or "
                      "`docker load` it there first, then run again"]

"""Custom steps: `ctx`, what a step function receives, and running a step task."""
from __future__ import annotations

import re
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otterfile.command import Command, SecretText
from otterfile.commands import files
from otterfile.errors import OtterError
from otterfile.executors.base import Result
from otterfile.secrets import Secret

if TYPE_CHECKING:
    from otterfile.artifacts.base import Artifact
    from otterfile.executors.base import Executor
    from otterfile.plan.graph import Task
    from otterfile.run.state import Release
    from otterfile.run.engine import Engine
    from otterfile.run.lane import Lane

PLACEHOLDERS = ("container", "unit", "instance", "release", "previous", "port", "image",
                "digest", "commit", "host", "deployment")
_PLACEHOLDER = re.compile(r"\{(" + "|".join(PLACEHOLDERS) + r")\}")


class StepFailed(OtterError):
    """A command of a custom step exited non-zero (or a put/template failed)."""


class StepContext:
    """What a step function gets. `run` fills `{container}`, `{unit}`, `{release}`,
    `{previous}`, `{port}`, `{image}`, `{digest}`, `{commit}`, `{host}` and `{deployment}`
    in a command, quoted; other braces are left alone (awk, docker --format)."""

    def __init__(self, engine: Engine, task: Task, lane: Lane | None = None) -> None:
        self._engine, self._task = engine, task
        self.deployment = task.deployment
        self.host = task.host or "controller"
        self.rollback = engine.rollback  # `otter rollback`: the release is an earlier one
        release, previous = (lane.release, lane.previous) if lane else (None, None)
        if engine.only:  # `--only`: the step acts on the live release
            release, previous = previous, None
        artifact: Artifact | Release | None = engine.artifact_of(lane) if lane is not None \
            and (lane.artifact or lane.deployment.artifact.name in engine.artifacts) \
            else release
        self.release = release.id if release else None
        self.previous = previous.id if previous else None
        # a container (docker, podman) or a unit (systemd): the runtime's instance name
        self.instance = self.container = self.unit = release.instance if release else None
        self.port = release.port if release else None
        self.digest = artifact.digest if artifact else None
        self.image = artifact.image if artifact else None
        self.commit = artifact.commit if artifact else None
        given = dict(lane.deployment.runtime.env) if lane else {}
        self.env = dict(engine.env.get(task.deployment or "", given))  # secrets resolved, when read

    def fill(self, command: str) -> str:
        """`command` with the known placeholders replaced by their quoted values."""
        def value(match: re.Match[str]) -> str:
            found = getattr(self, match.group(1))
            return shlex.quote("" if found is None else str(found))
        return _PLACEHOLDER.sub(value, command)

    def run(self, command: str, *, check: bool = True, stdin: str | bytes | None = None
            ) -> Result:
        """Run a shell command on this step's host (the controller for on="controller");
        returns its Result (`stdout`, `stderr`, `exited`, `ok`); raises StepFailed when
        it exits non-zero, unless `check=False`."""
        return self._run(self._task.host, command, check, stdin)

    def local(self, command: str, *, check: bool = True) -> Result:
        """Run a shell command on the controller."""
        return self._run(None, command, check, None)

    def put(self, src: str | Path, dest: str, *, mode: int = 0o644) -> Result:
        """Copy a file (relative to the Otterfile) to `dest` on this step's host; one trip."""
        path = self._engine.project.folder / src
        if not path.is_file():
            raise StepFailed(f"put: no file {path}")
        result = self._executor().upload(str(path), dest, mode=mode)
        return self._checked(result, f"put {src} -> {dest}")

    def template(self, src: str | Path, dest: str, *, mode: int = 0o644,
                 **variables: Any) -> Result:
        """Render a jinja2 template (relative to the Otterfile; an unknown variable is an
        error naming the template and line) with ctx's fields and `variables`, and write
        it atomically to `dest` on this step's host; one trip."""
        text = render_template(self._engine.project.folder, str(src),
                               {**self.fields(), **variables})
        secret = any(isinstance(v, Secret) for v in variables.values())
        content = SecretText(text) if secret else text
        result = self._executor().run(files.write_file(dest, content, mode))
        return self._checked(result, f"template {src} -> {dest}")

    def secret(self, name: str) -> Secret:
        """The secret `name`, read now (`str()` is ***; `.reveal()` gives the value)."""
        for value in self.env.values():
            if isinstance(value, Secret) and value.name == name and value.resolved:
                return value
        from otterfile.run.secret_store import SecretStore
        return SecretStore(self._engine.project.folder).resolve(Secret(name))

    def log(self, message: str) -> None:
        """Print a line under this step's host."""
        self._engine.emit(self._task, "info", message)

    def fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PLACEHOLDERS}

    def _executor(self) -> Executor:
        return self._engine.executor(self._task.host)

    def _checked(self, result: Result, what: str, check: bool = True) -> Result:
        if check and not result.ok:
            raise StepFailed(f"{what} exited {result.exited}: "
                             f"{result.tail(5) or result.tail(5, 'stdout')}")
        return result

    def _run(self, host: str | None, command: str, check: bool,
             stdin: str | bytes | None) -> Result:
        line = self.fill(command)
        job = Command(("sh", "-c", line), description=line, stdin=stdin)
        result = self._engine.executor(host).run(
            job, on_output=lambda _s, text: self._engine.emit(self._task, "output", text))
        return self._checked(result, repr(line), check)


def render_template(folder: Path, src: str, variables: dict[str, Any]) -> str:
    """`src` (under `folder`) rendered with StrictUndefined; errors name the file and line."""
    import jinja2
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(folder)),
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    try:
        return env.get_template(src).render(**variables)
    except jinja2.TemplateNotFound:
        raise StepFailed(f"template {src}: no such file under {folder}") from None
    except jinja2.TemplateSyntaxError as error:
        raise StepFailed(f"{folder / src}:{error.lineno}: {error.message}") from None
    except jinja2.UndefinedError as error:
        raise StepFailed(f"{folder / src}:{_template_line(src)}: {error.message}") from None


def _template_line(src: str) -> int | str:
    """The template line an error was raised at (jinja2 rewrites frames to the template)."""
    tb = sys.exc_info()[2]
    line: int | str = "?"
    while tb is not None:
        if tb.tb_frame.f_code.co_filename.endswith(src):
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def lanes_of(engine: Engine, task: Task) -> list[Lane]:
    """The lanes a step acts for: its host's, or every lane of its deployment (once,
    controller: the deployment's switch waits for it on every host)."""
    assert task.deployment is not None  # a step task belongs to its deployment
    dep = engine.project.deployments[task.deployment]
    if task.host and any(s.on == "targets" for s in dep.steps if s.name == task.step):
        return [lane for key, lane in engine.lanes.items() if key == (dep.name, task.host)]
    return [lane for (name, _), lane in engine.lanes.items() if name == dep.name]


def run_step(engine: Engine, task: Task) -> Any:
    """Call a custom step's function with its ctx (the lane of its host, or the first's).
    A failure marks the lanes it acts for: their unlock removes a release not yet live."""
    assert task.deployment is not None  # a step task belongs to its deployment
    dep = engine.project.deployments[task.deployment]
    step = next(s for s in dep.steps if s.name == task.step)
    host = task.host or (dep.hosts[0].name if dep.hosts else None)
    lane = engine.lanes.get((dep.name, host or ""))
    try:
        if step.contract:  # once per release, then recorded on every target
            from otterfile.run.contracts import run_contract
            return run_contract(engine, task, step, lanes_of(engine, task),
                                lambda: step.fn(StepContext(engine, task, lane)))
        return step.fn(StepContext(engine, task, lane))
    except BaseException as error:
        for each in lanes_of(engine, task):
            each.failed = each.failed or f"step {step.name}"
        if isinstance(error, Exception):
            raise located(error, engine.project.file, step.line) from error
        raise


def located(error: Exception, file: Path, line: int) -> StepFailed:
    """A step's error naming where it was raised: the Otterfile's deepest line (and a
    recipe's, when it came from one), else the step's own line."""
    from otterfile.load.loader import line_in, recipe_line
    what = str(error) if isinstance(error, OtterError) else f"{type(error).__name__}: {error}"
    return StepFailed(f"{file}:{line_in(error, file) or line}: {what}"
                      + recipe_line(error, file))

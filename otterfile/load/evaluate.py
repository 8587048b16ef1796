"""Evaluate a loaded Otterfile into a validated Project; every error names file and line."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, cast

from otterfile.load import checks
from otterfile.errors import OtterfileError
from otterfile.hosts import Host
from otterfile.load.loader import Loaded, Marked, interrupted, line_in, recipe_line
from otterfile.load.model import Deployment
from otterfile.load.balance import BALANCES, check_balance
from otterfile.load.placement import build_host, check_shared_hosts, named
from otterfile.load.previews import check_preview_domain
from otterfile.load.project import (ArtifactDef, DeploymentDef, Project, RuntimeDef, StepDef,
                                    TargetDef)
from otterfile.load.refs import name_of, unknown
from otterfile.load.step_defs import attached, step_def
from otterfile.run.state import DEFAULT_BASE, RESERVED
from otterfile.load.validate import (check_bool, check_choice, check_domain, check_int,
                                     check_name, check_number, check_parallel, fail, got,
                                     prefixed)

if TYPE_CHECKING:
    from otterfile.load.schedule import ScheduleDef
    from otterfile.load.snapshots import Snapshots


def evaluate(loaded: Loaded) -> Project:
    """Call every marked function and check what it returned."""
    return _Evaluator(loaded).project()


class _Evaluator:
    def __init__(self, loaded: Loaded):
        self.loaded, self.file = loaded, str(loaded.file)
        self.folder = Path(loaded.file).resolve().parent
        self.by_kind: dict[str, dict[str, Marked]] = {}
        for marked in loaded.functions:
            try:  # names become task ids, file names and lines of output
                check_name("", marked.mark.name, f"{marked.mark.kind} name")
            except OtterfileError as error:
                raise OtterfileError(error.message, file=self.file, line=marked.line) from None
            names = self.by_kind.setdefault(marked.mark.kind, {})
            first = names.get(marked.mark.name)
            if first is not None:
                raise OtterfileError(f"duplicate {marked.mark.kind} name {marked.mark.name!r} "
                                     f"(first defined at line {first.line})",
                                     file=self.file, line=marked.line)
            names[marked.mark.name] = marked

    def project(self) -> Project:
        artifacts = {n: self._artifact(m) for n, m in self._kind("artifact").items()}
        runtimes = {n: self._runtime(m) for n, m in self._kind("runtime").items()}
        targets = {n: self._target(m) for n, m in self._kind("target").items()}
        artifacts = {n: self._placed(a, targets) for n, a in artifacts.items()}
        self.defs: dict[str, dict[str, Any]] = {"artifact": artifacts, "runtime": runtimes,
                                                 "target": targets}
        steps = {n: step_def(m, self.file) for n, m in self._kind("step").items()}
        deployments: dict[str, DeploymentDef] = {}
        for marked in self._kind("deployment").values():
            for dep in self._deployments(marked, steps):
                if dep.name in deployments:
                    self._error(marked, f"duplicate deployment name {dep.name!r}")
                if dep.name in RESERVED:
                    self._error(marked, f"deployment name {dep.name!r} is taken by otter's "
                                f"own folder {DEFAULT_BASE}/{dep.name} on each target; "
                                "choose another")
                deployments[dep.name] = dep
        artifacts, targets, deployments = named(self.file, artifacts, targets, deployments)
        check_shared_hosts(self.file, list(deployments.values()))
        for step in steps.values():
            if step.deployment and step.deployment not in deployments and \
                    not any(d.group == step.deployment for d in deployments.values()):
                self._error(self._kind("step")[step.name], unknown(
                    "deployment", step.deployment, deployments), f"step {step.name}/deployment")
        return Project(self.loaded.file, artifacts, runtimes, targets, deployments,
                       tuple(steps.values()))

    def _kind(self, kind: str) -> dict[str, Marked]:
        return self.by_kind.get(kind, {})

    def _error(self, marked: Marked, message: str, path: str | None = None) -> None:
        raise OtterfileError(message, file=self.file, line=marked.line, path=path)

    def _call(self, marked: Marked, check: Callable[[Any], Any]) -> Any:
        where = f"{marked.mark.kind} {marked.mark.name}"
        try:
            return check(marked.fn())
        except OtterfileError as error:
            line = line_in(error, self.loaded.file) if error.path is None else None
            located = prefixed(error, where)
            located.file, located.line = self.file, line or error.line or marked.line
            located.message += recipe_line(error, self.loaded.file)
            raise located from error
        except KeyboardInterrupt as error:
            raise interrupted(error, self.loaded.file) from None
        except Exception as error:
            raise OtterfileError(f"{where}: {type(error).__name__}: {error}"
                                 + recipe_line(error, self.loaded.file), file=self.file,
                                 line=line_in(error, self.loaded.file) or marked.line) from error

    def _artifact(self, marked: Marked) -> ArtifactDef:
        return ArtifactDef(marked.mark.name, self._call(marked, checks.check_source), marked.line)

    def _placed(self, art: ArtifactDef, targets: dict[str, TargetDef]) -> ArtifactDef:
        try:
            return build_host(art, targets)
        except OtterfileError as error:
            raise OtterfileError(error.message, file=self.file, line=art.line,
                                 path=prefixed(error, f"artifact {art.name}").path) from None

    def _runtime(self, marked: Marked) -> RuntimeDef:
        value = self._call(marked, checks.check_runtime)
        return RuntimeDef(marked.mark.name, value, tuple(value.env.items()), marked.line)

    def _target(self, marked: Marked) -> TargetDef:
        return TargetDef(marked.mark.name, self._call(marked, checks.check_hosts), marked.line)

    def _deployments(self, marked: Marked, steps: dict[str, StepDef]) -> list[DeploymentDef]:
        def check(value: Any) -> list[DeploymentDef]:
            many = isinstance(value, (list, tuple))
            items = list(value) if many else [value]
            if not items:
                fail("", "expected Deployment(...) or a non-empty list of them")
            out = []
            for index, item in enumerate(items):
                name = f"{marked.mark.name}-{index}" if many else marked.mark.name
                try:
                    out.append(self._deployment(name, marked, item, steps))
                except OtterfileError as error:
                    raise prefixed(error, str(index)) if many else error
            return out
        return cast(list[DeploymentDef], self._call(marked, check))

    def _deployment(self, name: str, marked: Marked, value: Any,
                    steps: dict[str, StepDef]) -> DeploymentDef:
        if not isinstance(value, Deployment):
            fail("", f"expected Deployment(...), {got(value)}")
        name = check_name("name", getattr(value, "name", None) or name, "deployment name")
        targets = self._targets(value.targets)
        own_steps = attached(name, marked, value.steps, steps, self.file)
        from otterfile.artifacts import DECLARED as SOURCES
        from otterfile.runtimes import DECLARED as RUNTIMES
        dep = DeploymentDef(
            name=name, group=marked.mark.name,
            artifact=self._ref("artifact", value.artifact, "artifact", SOURCES, name),
            runtime=self._ref("runtime", value.runtime, "runtime", RUNTIMES),
            targets=targets,
            domains=tuple(self._domains(value.domains)),
            health_check=_within("health_check", checks.check_health, value.health_check),
            proxy=_within("proxy", checks.check_proxy, value.proxy),
            keep_releases=check_int("keep_releases", value.keep_releases, 1),
            parallel=check_parallel("parallel", value.parallel),
            canary=check_bool("canary", value.canary),
            relay=check_bool("relay", False if value.relay is None else value.relay),
            on_failure=check_choice("on_failure", value.on_failure, ("stop", "rollback")),
            drain_seconds=check_number("drain_seconds", value.drain_seconds, inclusive=True),
            stop_seconds=check_number("stop_seconds", value.stop_seconds),
            strategy=check_choice("strategy", value.strategy, ("bluegreen", "recreate")),
            rollback_window=check_number("rollback_window", value.rollback_window,
                                         inclusive=True),
            hold_seconds=check_int("hold_seconds", value.hold_seconds, 1),
            steps=own_steps, line=marked.line,
            snapshots=_within("snapshots", _snapshots, value.snapshots),
            schedules=_within("schedules", _schedules, value.schedules),
            previews=check_int("previews", value.previews, 1),
            preview_domain=_within("preview_domain", check_preview_domain, value.preview_domain),
            balance=check_choice("balance", value.balance, BALANCES))
        if dep.rollback_window > 7 * 86400:  # a timer on the target, not a second home
            fail("rollback_window", f"expected at most 604800 seconds (7 days), "
                 f"{got(value.rollback_window)}")
        if dep.recreate and dep.preview_domain:
            fail("preview_domain", "a strategy=\"recreate\" service binds one port on its "
                 "hosts: a preview beside it cannot run")
        check_balance(dep)
        _within("proxy", lambda domains: dep.proxy_declared.check_domains(dep.proxy, domains),
                dep.domains)
        _within("proxy", lambda value: dep.proxy_declared.check_files(value, self.folder),
                dep.proxy)
        return replace(dep, unsupported=self._unsupported(dep))

    def _unsupported(self, dep: DeploymentDef) -> OtterfileError | None:
        """Why this version cannot deploy `dep` (an error `run` raises), or None."""
        source, runtime = dep.artifact.declared, dep.runtime.declared
        form = source.form(dep.artifact.source)
        reasons = [("artifact", source.unsupported(dep.artifact.source)),
                   ("runtime", runtime.unsupported(dep.runtime.value)),
                   ("proxy", dep.proxy_declared.unsupported(dep.proxy)),
                   ("runtime", None if form in runtime.forms else
                    f"the {runtime.name} runtime cannot run {'an' if form[0] in 'aeiou' else 'a'}"
                    f" {form} artifact")]
        for path, reason in reasons:
            if reason:
                return OtterfileError(reason, file=self.file, line=dep.line,
                                      path=f"deployment {dep.name}/{path}")
        return None

    def _domains(self, value: Any) -> list[str]:
        if isinstance(value, str) or not isinstance(value, (list, tuple)):
            fail("domains", f"expected a list of domain names, {got(value)}")
        seen: dict[str, int] = {}
        for index, item in enumerate(value):
            domain = check_domain(f"domains/{index}", item)
            if domain in seen:
                fail(f"domains/{index}", f"{item!r} is domains/{seen[domain]} again")
            seen[domain] = index
        return list(seen)

    def _targets(self, value: Any) -> tuple[TargetDef, ...]:
        if value is None:
            fail("targets", "missing: give a list of target names")
        items = value if isinstance(value, (list, tuple)) else [value]
        if not items:
            fail("targets", "expected at least one target")
        out = []
        for index, item in enumerate(items):
            if isinstance(item, Host):
                out.append(TargetDef(item.name, (item,)))
            else:
                out.append(self._ref("target", item, f"targets/{index}", {}))
        return tuple(out)

    def _ref(self, kind: str, value: Any, path: str, inline: dict[type, Any],
             owner: str = "") -> Any:
        if value is None:
            fail(path, f"missing: give a {kind} function or name")
        if type(value) in inline:
            wrapped = _within(path, checks.check_source if kind == "artifact"
                              else checks.check_runtime, value)
            if kind == "artifact":  # one per deployment: a group's inline ones differ
                return _within(path, lambda art: build_host(art, self.defs["target"]),
                               ArtifactDef(f"{owner}.{path}" if owner else path, wrapped))
            return RuntimeDef(path, wrapped, tuple(wrapped.env.items()))
        name = name_of(value, kind, path)
        known = self.defs[kind]
        if name not in known:
            fail(path, unknown(kind, name, known))
        return known[name]


def _within(path: str, check: Callable[[Any], Any], value: Any) -> Any:
    try:
        return check(value)
    except OtterfileError as error:
        raise prefixed(error, path) from error


def _schedules(value: Any) -> tuple[ScheduleDef, ...]:
    """Deployment(schedules=...) checked; load/schedule.py (and its calendar) loads only for
    a deployment that declares some."""
    if isinstance(value, (list, tuple)) and not value:
        return ()
    from otterfile.load.schedule import check_schedules
    return check_schedules(value)


def _snapshots(value: Any) -> Snapshots | None:
    """Deployment(snapshots=...) checked; load/snapshots.py loads only when one is given."""
    if value is None:
        return None
    from otterfile.load.snapshots import check_snapshots
    return check_snapshots(value)

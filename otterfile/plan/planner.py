"""Plan: a validated Project in, a deterministic task graph out. No network, no server."""
from __future__ import annotations

import math
from typing import Any, Iterable, Iterator

from otterfile.errors import OtterfileError
from otterfile.plan.graph import Graph, Task
from otterfile.plan.step_order import run_end, step_order
from otterfile.host_names import spelled
from otterfile.load.model import STAGES
from otterfile.load.project import DeploymentDef, Project, StepDef

TARGET_STAGES = ("lock",) + STAGES[1:] + ("unlock",)


def plan(project: Project, names: Iterable[str], *, hosts: Iterable[str] | None = None,
         rollback: bool = False, with_data: bool = False) -> Graph:
    """The task graph of the named deployments, narrowed to `hosts` when given.

    A rollback has no acquire and no ship: the release's image is on the target already.
    With Snapshots, a run snapshots the data after the lock (before ship and any step);
    a rollback `with_data` restores it there instead.
    A misplaced step (a cycle, a target step before acquire) names the Otterfile and its line.
    """
    builder = _Builder(rollback, str(project.file) if project.file else None, with_data)
    for dep, chosen in _chosen(project, names, hosts):
        builder.add(dep, chosen)
    return builder.graph()


def order(project: Project, names: Iterable[str], *,
          hosts: Iterable[str] | None = None) -> dict[str, list[list[str]]]:
    """Per deployment, the batches a run deploys its hosts in (see `batches`)."""
    return {dep.name: batches(dep, chosen) for dep, chosen in _chosen(project, names, hosts)}


def batches(dep: DeploymentDef, hosts: list[str]) -> list[list[str]]:
    """The order `hosts` of `dep` deploy in: with `canary`, the first one alone; then groups
    of `parallel` (a count, or a percentage of the deployment's hosts rounded up; default
    all) in declaration order. A batch starts when every target of the one before is live."""
    size = batch_size(dep.parallel, len(dep.hosts))
    first, rest = (hosts[:1], hosts[1:]) if dep.canary else ([], hosts)
    size = size or max(1, len(rest))
    return ([first] if first else []) + [rest[i:i + size] for i in range(0, len(rest), size)]


def batch_size(parallel: int | str | None, hosts: int) -> int | None:
    """`parallel` as a count: "25%" of `hosts` rounded up, at least 1; None stays None."""
    if isinstance(parallel, str):
        return max(1, math.ceil(hosts * int(parallel[:-1]) / 100))
    return parallel or None


def _chosen(project: Project, names: Iterable[str],
            hosts: Iterable[str] | None) -> Iterator[tuple[DeploymentDef, list[str]]]:
    """Each named deployment with its hosts that `hosts` (--targets) keeps, in order."""
    only = {spelled(h) for h in hosts} | set(hosts) if hosts is not None else None
    for name in names:
        for dep in project.select(name):
            chosen = [h.name for h in dep.hosts if only is None or h.name in only]
            if not chosen:
                known = ", ".join(h.name for h in dep.hosts)
                raise OtterfileError(f"--targets matches no host of {dep.name}; its hosts: {known}")
            if dep.fleet and len(chosen) < len(dep.hosts):
                from otterfile.errors import UsageError
                raise UsageError(f"--targets: {dep.name} has balance=\"fleet\": every proxy "
                                 "names every target's release, so a run deploys all of "
                                 f"them ({', '.join(h.name for h in dep.hosts)}); nothing "
                                 "was touched")
            yield dep, chosen


class _Builder:
    def __init__(self, rollback: bool = False, file: str | None = None,
                 with_data: bool = False):
        self.rollback, self.file = rollback, file  # the Otterfile, named by errors
        self.with_data = with_data  # a rollback restores the data (run/snapshots.py)
        self.deps: dict[str, list[str]] = {}
        self.meta: dict[str, dict[str, Any]] = {}

    def node(self, tid: str, deps: Iterable[str], **meta: Any) -> str:
        if tid not in self.deps:
            self.deps[tid] = list(deps)
            self.meta[tid] = meta
        return tid

    def add(self, dep: DeploymentDef, hosts: list[str]) -> None:
        acquire = self.node(f"acquire:{dep.artifact.name}", [], stage="acquire",
                            artifact=dep.artifact.name, deployment=dep.name,
                            host=dep.artifact.declared.build_host(dep.artifact.source))
        stages = [s for s in TARGET_STAGES[:-1] if not (self.rollback and s == "ship")]
        if dep.snapshots is not None and (self.with_data or not self.rollback):
            stages.insert(1, "restore" if self.rollback else "snapshot")
        if dep.fleet:  # every proxy pointed at every new release, then the retires
            stages.insert(stages.index("retire"), "fleet")
        if self.rollback:
            del self.deps[acquire], self.meta[acquire]
            acquire = ""
        for host in hosts:
            previous = acquire
            for stage in stages:
                previous = self.node(task_id(dep.name, stage, host),
                                     [previous] if previous else [],
                                     stage=stage, host=host,
                                     deployment=dep.name)
        steps = step_order(dep, self.file)
        late = run_end(steps, self.rollback or len(hosts) < len(dep.hosts))
        for step in steps:
            if step.name not in late:
                self._insert(dep, step, hosts, acquire)
        if dep.fleet:
            self._fleet(dep, hosts)
        last: dict[str, list[str]] = {}  # per host: its lane's last tasks (before unlock)
        for host in hosts:
            mine = [i for i, m in self.meta.items()
                    if m.get("deployment") == dep.name and m.get("host") == host]
            last[host] = [i for i in mine if not any(i in self.deps[o] for o in mine)]
        ends = self._schedules(dep, hosts, last) if dep.schedules else last
        for host in hosts:
            self.node(task_id(dep.name, "unlock", host), ends[host], stage="unlock",
                      host=host, deployment=dep.name, always=True,
                      needs=(task_id(dep.name, "lock", host),))
        if not self.rollback:
            self._barriers(dep, batches(dep, hosts), last)
        for step in (s for s in steps if late.get(s.name)):
            if step.after_deploy:
                self._after_deploy(dep, step, hosts, last)
            else:
                self._insert(dep, step, hosts, acquire)

    def _after_deploy(self, dep: DeploymentDef, step: StepDef, hosts: list[str],
                      last: dict[str, list[str]]) -> None:
        """A step after="deploy": after the last tasks of every target of the run (a failed
        or skipped one skips it), before every unlock (the targets stay locked for it)."""
        done = [i for host in hosts for i in last[host]]
        per_host = step.on == "targets"
        for host in hosts if per_host else hosts[:1]:
            sid = self.node(task_id(dep.name, f"step:{step.name}", host if per_host else None),
                            done, stage="step", step=step.name, deployment=dep.name,
                            host=None if step.on == "controller" else host)
            for each in hosts:
                self.deps[task_id(dep.name, "unlock", each)].append(sid)

    def _fleet(self, dep: DeploymentDef, hosts: list[str]) -> None:
        """Each target's fleet task waits for every target's switch (and the steps after
        it); what follows it on each target (retire) waits for every fleet task: one
        failure there retires no old release anywhere."""
        fleets = [task_id(dep.name, "fleet", host) for host in hosts]
        before = [d for f in fleets for d in self.deps[f]]
        for tid in fleets:
            self.deps[tid] = list(dict.fromkeys(before))
        for tid, deps in self.deps.items():
            if tid not in fleets and any(f in deps for f in fleets):
                deps.extend(f for f in fleets if f not in deps)

    def _schedules(self, dep: DeploymentDef, hosts: list[str],
                   last: dict[str, list[str]]) -> dict[str, list[str]]:
        """Each target's `schedules` task (run/schedules.place), after every target's lane
        (a rollback's: its own), whatever became of them; it needs its own lock."""
        every = [i for host in hosts for i in last[host]]
        return {host: [self.node(task_id(dep.name, "schedules", host),
                                 last[host] if self.rollback else every, stage="schedules",
                                 host=host, deployment=dep.name, always=True,
                                 needs=(task_id(dep.name, "lock", host),))] for host in hosts}

    def _barriers(self, dep: DeploymentDef, order: list[list[str]],
                  last: dict[str, list[str]]) -> None:
        """Each batch's locks wait for the last tasks (not the unlocks, which run after a
        failure too) of every target of the batch before: a failure there skips the rest."""
        for before, batch in zip(order, order[1:]):
            done = [i for host in before for i in last[host]]
            for host in batch:
                lock = self.deps[task_id(dep.name, "lock", host)]
                lock.extend(i for i in done if i not in lock)

    def _insert(self, dep: DeploymentDef, step: StepDef, hosts: list[str], acquire: str) -> None:
        kind, anchor = step.anchor
        if self.rollback and anchor in ("acquire", "ship"):
            return
        if anchor == "acquire" and step.on != "controller":
            raise OtterfileError("acquire runs on the controller: use on='controller'",
                                 file=self.file, line=step.line, path=f"step {step.name}/on")
        per_host = step.on == "targets"
        runs_on = hosts if per_host else [hosts[0]]
        anchors = {h: (acquire if anchor == "acquire" else self._anchor_id(dep, anchor, h))
                   for h in hosts}
        node_host = (lambda h: h) if step.on != "controller" else (lambda h: None)
        ids = {h: self.node(task_id(dep.name, f"step:{step.name}", h if per_host else None),
                            [], stage="step", step=step.name, host=node_host(h),
                            deployment=dep.name) for h in runs_on}
        for host in hosts:
            sid, target = ids[host if per_host else hosts[0]], anchors[host]
            if kind == "before":
                if host in runs_on:
                    self.deps[sid].extend(d for d in self.deps[target] if d not in self.deps[sid])
                    self.deps[target] = [sid]
                elif sid not in self.deps[target]:
                    self.deps[target].append(sid)
            else:
                for other, deps in self.deps.items():
                    if other != sid and target in deps and self._same_lane(other, host, dep):
                        if host in runs_on:
                            deps[deps.index(target)] = sid
                        elif sid not in deps:  # a once-step elsewhere: wait for it AND for
                            deps.append(sid)   # this host's own anchor (its health check)
                if host in runs_on and target not in self.deps[sid]:
                    self.deps[sid].append(target)

    def _same_lane(self, tid: str, host: str, dep: DeploymentDef) -> bool:
        meta = self.meta[tid]
        return meta.get("deployment") == dep.name and meta.get("host") in (host, None)

    def _anchor_id(self, dep: DeploymentDef, anchor: str, host: str) -> str:
        if anchor in STAGES:
            return task_id(dep.name, anchor, host)
        for candidate in (task_id(dep.name, f"step:{anchor}", host),
                          task_id(dep.name, f"step:{anchor}", None)):
            if candidate in self.deps:
                return candidate
        raise OtterfileError(f"step anchor {anchor!r} not found")

    def graph(self) -> Graph:
        tasks = {}
        for task_id, deps in self.deps.items():
            tasks[task_id] = Task(task_id, deps=tuple(deps), **self.meta[task_id])
        return Graph(tasks)


def task_id(deployment: str, stage: str, host: str | None) -> str:
    """The id of a task: `deployment/stage@host` (no host: on the controller)."""
    return f"{deployment}/{stage}" + (f"@{host}" if host else "")


def plan_step(project: Project, name: str, step_name: str, *,
              hosts: Iterable[str] | None = None) -> Graph:
    """`otter run NAME --only STEP`: the step alone, between each host's deploy lock and
    unlock (a step `on="once"` or `"controller"` runs once, with every host locked)."""
    from otterfile.errors import UsageError
    only = {spelled(h) for h in hosts} | set(hosts) if hosts is not None else None
    builder = _Builder()
    for dep in project.select(name):
        step = next((s for s in dep.steps if s.name == step_name), None)
        if step is None:
            known = ", ".join(s.name for s in dep.steps) or "none"
            raise UsageError(f"deployment {dep.name} has no step {step_name!r}; its steps: "
                             f"{known}")
        chosen = [h.name for h in dep.hosts if only is None or h.name in only]
        if not chosen:
            raise UsageError(f"--targets matches no host of {dep.name}")
        locks = {h: builder.node(task_id(dep.name, "lock", h), [], stage="lock", host=h,
                                 deployment=dep.name) for h in chosen}
        per_host = step.on == "targets"
        for host in chosen if per_host else chosen[:1]:
            where = host if step.on != "controller" else None
            sid = builder.node(task_id(dep.name, f"step:{step.name}", host if per_host else None),
                               [locks[host]] if per_host else list(locks.values()),
                               stage="step", step=step.name, host=where, deployment=dep.name)
            for each in chosen if not per_host else [host]:
                builder.node(task_id(dep.name, "unlock", each), [sid], stage="unlock",
                             host=each, deployment=dep.name, always=True,
                             needs=(locks[each],))
    return builder.graph()

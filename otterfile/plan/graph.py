"""The task graph: tasks with dependencies, a stable order, and pictures of it."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from otterfile.command import Command
from otterfile.errors import OtterfileError

CONTROLLER = "controller"


@dataclass(frozen=True)
class Task:
    """One unit of work on one host (or the controller) at one stage."""

    id: str
    stage: str
    host: str | None = None
    deployment: str | None = None
    deps: tuple[str, ...] = ()
    needs: tuple[str, ...] | None = None  # deps that must have succeeded; None = all deps
    always: bool = False  # cleanup path: runs after a failure too (unlock)
    step: str | None = None
    artifact: str | None = None
    commands: tuple[Command, ...] = field(default=(), compare=False)

    @property
    def required(self) -> tuple[str, ...]:
        return self.deps if self.needs is None else self.needs

    @property
    def where(self) -> str:
        return self.host or CONTROLLER

    @property
    def label(self) -> str:
        return f"step {self.step}" if self.step else self.stage


@dataclass(frozen=True)
class Graph:
    """Tasks by id, in a deterministic order that respects dependencies."""

    tasks: dict[str, Task]
    _order: list[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for task in self.tasks.values():
            for dep in task.deps:
                if dep not in self.tasks:
                    raise ValueError(f"task {task.id} depends on unknown task {dep}")
        object.__setattr__(self, "_order", _order(self.tasks))

    def order(self) -> list[Task]:
        return [self.tasks[i] for i in self._order]

    def hosts(self) -> list[str]:
        return list(dict.fromkeys(t.host for t in self.order() if t.host))

    def for_host(self, host: str | None) -> list[Task]:
        return [t for t in self.order() if t.host == host]


def _order(tasks: dict[str, Task]) -> list[str]:
    """Kahn's algorithm, taking ready tasks in insertion order (deterministic)."""
    waiting = {i: set(t.deps) for i, t in tasks.items()}
    done: list[str] = []
    while waiting:
        ready = [i for i, deps in waiting.items() if not deps]
        if not ready:
            raise OtterfileError("cycle among tasks: " + " -> ".join(find_cycle(
                {i: tasks[i].deps for i in waiting})))
        for i in ready:
            del waiting[i]
            done.append(i)
        for deps in waiting.values():
            deps.difference_update(ready)
    return done


def find_cycle(edges: Mapping[str, Sequence[str]]) -> list[str]:
    """One cycle in `edges` (node -> nodes it depends on), first node repeated at the end."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        state[node] = 2
        stack.pop()
        return None

    for node in edges:
        if node not in state and (found := visit(node)):
            return found
    return []

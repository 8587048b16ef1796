"""The decorators of an Otterfile. They only mark functions; the loader collects them."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, TypeVar, overload

MARK = "__otter__"

F = TypeVar("F", bound=Callable[..., Any])


class Decorator(Protocol):
    """@kind, @kind() or @kind("name", **options): the function comes back unchanged."""

    @overload
    def __call__(self, arg: F, /, **options: Any) -> F: ...

    @overload
    def __call__(self, arg: str | None = None, /, **options: Any) -> Callable[[F], F]: ...


@dataclass(frozen=True)
class Mark:
    """What a decorator recorded on a function."""

    kind: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


def _decorator(kind: str) -> Decorator:
    def decorate(arg: Any = None, /, **options: Any) -> Any:
        if callable(arg):
            return _mark(arg, kind, None, options)
        if arg is not None and not isinstance(arg, str):
            raise TypeError(f"@{kind}: expected a name string, got {arg!r}")
        return lambda fn: _mark(fn, kind, arg, options)

    decorate.__name__ = decorate.__qualname__ = kind
    decorate.__doc__ = f"Mark a function that returns a {kind}; usable as @{kind}, " \
                       f"@{kind}() or @{kind}(\"name\")."
    return decorate


def _mark(fn: F, kind: str, name: str | None, options: dict[str, Any]) -> F:
    if isinstance(fn, type):  # calling it would make an instance, never the value
        raise TypeError(f"@{kind} decorates a function that returns the {kind}, got the "
                        f"class {fn.__name__}")
    if not callable(fn):
        raise TypeError(f"@{kind} decorates a function, got {fn!r}")
    setattr(fn, MARK, Mark(kind, name or fn.__name__, dict(options)))
    return fn


def mark_of(obj: Any) -> Mark | None:
    return getattr(obj, MARK, None) if callable(obj) else None


artifact = _decorator("artifact")
runtime = _decorator("runtime")
target = _decorator("target")
deployment = _decorator("deployment")


@overload
def step(arg: F, /, *, deployment: Any = None, before: str | None = None,
         after: str | None = None, on: str = "targets", name: str | None = None,
         contract: bool = False) -> F: ...


@overload
def step(arg: str | None = None, /, *, deployment: Any = None, before: str | None = None,
         after: str | None = None, on: str = "targets",
         name: str | None = None, contract: bool = False) -> Callable[[F], F]: ...


def step(arg: Any = None, /, *, deployment: Any = None, before: Any = None, after: Any = None,
         on: str = "targets", name: str | None = None, contract: Any = False) -> Any:
    """Mark a custom step: `@step(deployment="production", before="switch", on="once")`.

    The function takes `ctx`. `on` is "targets" (each target), "once" (the first target)
    or "controller" (where otter runs). `before`/`after` name a stage or another step;
    `after="deploy"`: once every target of the run has retired its old release.
    `contract=True` (with after="deploy"): a migration's contract, recorded on every
    target; `otter rollback` to an older release is then refused without --force.
    """
    options = {"deployment": deployment, "before": before, "after": after, "on": on}
    if contract is not False:  # only when given: the options of other steps stay as they were
        options["contract"] = contract
    if callable(arg):
        return _mark(arg, "step", name, options)
    return lambda fn: _mark(fn, "step", arg or name, options)

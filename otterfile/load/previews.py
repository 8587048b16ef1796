"""The rules of preview deployments (`otter run NAME --preview LABEL`), pure: the
`preview_domain` pattern, a label, a --ttl, --env overrides, and the preview's own
deployment derived from NAME's (named `NAME--LABEL`, served under the pattern's domain)."""
from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Sequence

from otterfile.errors import UsageError
from otterfile.load.validate import check_domain, fail

if TYPE_CHECKING:
    from otterfile.load.project import DeploymentDef

SEPARATOR = "--"  # NAME--LABEL: a label never holds "--", so the split is unambiguous
LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,38}[a-z0-9])?$")
TTL = re.compile(r"^(\d+)([smhd])$")
UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_TTL = "72h"
MAX_TTL = 365 * 86400
ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_preview_domain(value: Any) -> str | None:
    """None, or a domain pattern holding `{label}` once (`{label}.preview.example.com`)."""
    if value is None:
        return None
    if not isinstance(value, str) or value.count("{label}") != 1:
        fail("", f"expected a domain with {{label}} once, like "
                 f"'{{label}}.preview.example.com', got {value!r}")
    check_domain("", value.replace("{label}", "x"))
    return value.lower().rstrip(".")


def check_label(label: str) -> str:
    """A preview label: lower-case letters, digits and '-' (not first, last or doubled), at
    most 40: one DNS label and part of unit and container names."""
    if not LABEL.match(label) or SEPARATOR in label:
        raise UsageError(f"preview label {label!r}: use lower-case letters, digits and '-' "
                         f"(not at the start or end, not '--'), at most 40 characters")
    return label


def preview_name(name: str, label: str) -> str:
    return f"{name}{SEPARATOR}{label}"


def label_of(name: str, preview: str) -> str | None:
    """LABEL when `preview` is NAME--LABEL, else None."""
    head, sep, label = preview.partition(SEPARATOR)
    return label if head == name and sep and LABEL.match(label) else None


def ttl_seconds(value: str) -> int:
    """--ttl: a count and a unit, s, m, h or d (`72h`, `30m`), up to a year."""
    match = TTL.match(value.strip())
    seconds = int(match.group(1)) * UNITS[match.group(2)] if match else 0
    if not 0 < seconds <= MAX_TTL:
        raise UsageError(f"--ttl {value!r}: expected a count and s, m, h or d, like 72h "
                         f"(at most 365d)")
    return seconds


def env_overrides(items: Sequence[str]) -> dict[str, str]:
    """--env KEY=VALUE, each a plain value (a secret stays in the Otterfile)."""
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not ENV_KEY.match(key):
            raise UsageError(f"--env {item!r}: expected KEY=VALUE, KEY a name like DB_NAME")
        out[key] = value
    return out


def preview_of(dep: DeploymentDef, label: str, env: dict[str, str]) -> DeploymentDef:
    """NAME's DeploymentDef as the preview LABEL: its own name (and so its own state, lock,
    instances and proxy site), its own data (named volumes `NAME--LABEL_VOLUME`), the
    pattern's one domain, the env with `env` over it; no schedules (a preview never runs production's jobs: its units would be a second copy)."""
    if dep.preview_domain is None:
        raise UsageError(f"deployment {dep.name} has no preview_domain: add "
                         f"preview_domain=\"{{label}}.preview.example.com\" to its Deployment")
    name = preview_name(dep.name, check_label(label))
    if len(name) > 63:
        raise UsageError(f"preview {name!r} is longer than 63 characters: a shorter label")
    domain = check_domain("preview_domain", dep.preview_domain.replace("{label}", label))
    kept = tuple((k, v) for k, v in dep.runtime.env if k not in env)
    runtime = replace(dep.runtime, env=kept + tuple(env.items()),
                      value=dep.runtime.kind.own_data(dep.runtime.value, name))
    return replace(dep, name=name, group=name, domains=(domain,), runtime=runtime,
                   preview_domain=None, canary=False, schedules=())

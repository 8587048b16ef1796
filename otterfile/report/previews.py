"""Previews of a deployment in `otter status`: each label once, with its domain, expiry and
the targets that run it (read per target by run/preview.py), and one preview as data."""
from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Sequence

if TYPE_CHECKING:
    from otterfile.load.project import DeploymentDef
    from otterfile.run.preview import Preview


def when(expires: float) -> str | None:
    """An expiry as `2026-12-04 18:00 UTC`; 0 (unknown): None."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(expires)) if expires else None


def by_label(found: Sequence[tuple[str, Sequence[Preview]]]
             ) -> dict[str, tuple[Preview, list[str]]]:
    """Label -> (the first target's preview, the targets that run it), from each target's
    previews."""
    out: dict[str, tuple[Preview, list[str]]] = {}
    for host, previews in found:
        for preview in previews:
            out.setdefault(preview.label, (preview, []))[1].append(host)
    return dict(sorted(out.items()))


def lines(dep: DeploymentDef, found: Sequence[tuple[str, Sequence[Preview]]]) -> list[str]:
    """`previews of NAME (1 of 3):` and a line per preview (label, domain, targets, expiry),
    or `previews of NAME: none`."""
    labels = by_label(found)
    if not labels:
        return [f"previews of {dep.name}: none"]
    return [f"previews of {dep.name} ({len(labels)} of {dep.previews}):"] + [
        f"  {label}: {p.domain or '?'} on {', '.join(hosts)}, expires {when(p.expires) or '?'}"
        for label, (p, hosts) in labels.items()]


def record(preview: Preview) -> dict[str, Any]:
    """One preview on one target as data (`otter status --json`)."""
    return {"label": preview.label, "domain": preview.domain or None,
            "expires": when(preview.expires)}

"""Release state on a target, as pure functions over its values (state_file.py reads and
writes `releases.json`, deploy_log.py the deploy log).

Statuses: "starting" (container up, not yet healthy), "live" (serving), "previous"
(was live, superseded; image kept, a rollback candidate), "failed" (never healthy,
removed), "retired" (pruned past keep_releases: container and image gone).
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Any

from otterfile.errors import OtterError

DEFAULT_BASE = "/var/lib/otter"
PORT_PLACEHOLDER = "<port>"  # the port a release gets at start, as `otter plan` shows it
STATUSES = ("starting", "live", "previous", "failed", "retired")
HISTORY_LIMIT = 50  # failed/retired records kept for `otter status`
# folders under DEFAULT_BASE that are not a deployment's (the artifact store)
RESERVED = ("artifacts",)
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}")


def check_name(name: str, what: str = "deployment") -> str:
    """`name` if it is safe in paths, container names and config files; else OtterError."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise OtterError(f"{what} name {name!r}: use letters, digits, '_', '.', '-' "
                         "(starting with a letter or digit, at most 63)")
    return name


def state_dir(deployment: str, base: str = DEFAULT_BASE) -> str:
    """The state folder of a deployment on a target."""
    return f"{base.rstrip('/')}/{check_name(deployment)}"


def upstream_dir(deployment: str, base: str = DEFAULT_BASE) -> str:
    """The folder whose one file, named by the live release's port, the proxy reads per
    request (its switch renames that file; no reload)."""
    return f"{state_dir(deployment, base)}/upstream"


@dataclass(frozen=True)
class Release:
    """One artifact digest started on one target."""

    id: str
    digest: str
    image: str = ""
    commit: str | None = None
    ref: str | None = None
    created: str = ""
    status: str = "starting"
    port: int | str | None = None  # str: PORT_PLACEHOLDER, in a plan
    instance: str | None = None  # the container or unit the release runs as
    config: str | None = None  # fingerprint of digest + env + runtime + proxy settings
    runtime: str | None = None  # the runtime kind that started it (None: an older file)
    proxy: str | None = None  # the proxy kind that served it (None: older, or no proxy)


@dataclass(frozen=True)
class State:
    """Every release a target knows of (oldest first) and which one is live."""

    releases: tuple[Release, ...] = ()
    live: str | None = None
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # keys of newer otters, kept

    def get(self, release_id: str) -> Release:
        """The release with this id, or OtterError."""
        for release in self.releases:
            if release.id == release_id:
                return release
        raise OtterError(f"no release {release_id!r} on this target "
                         f"(known: {', '.join(r.id for r in self.releases) or 'none'})")

    @property
    def live_release(self) -> Release | None:
        return self.get(self.live) if self.live else None


def new_release_id(digest: str, now: datetime) -> str:
    """A sortable id: UTC time and the digest's first 8 hex, e.g. 20240102T030405-0a1b2c3d."""
    hexes = digest.split(":", 1)[-1]
    if not re.fullmatch(r"[0-9a-fA-F]{8,}", hexes):
        raise OtterError(f"expected a hex digest, got {digest!r}")
    when = now.astimezone(timezone.utc) if now.tzinfo else now
    return f"{when:%Y%m%dT%H%M%S}-{hexes[:8].lower()}"


def _set(state: State, release_id: str, status: str) -> State:
    state.get(release_id)
    releases = tuple(replace(r, status=status) if r.id == release_id else r
                     for r in state.releases)
    live = None if state.live == release_id and status != "live" else state.live
    return replace(state, releases=releases, live=live)


def add_release(state: State, release: Release) -> State:
    """Record a new release as starting (replacing a record with the same id)."""
    kept = tuple(r for r in state.releases if r.id != release.id)
    return replace(state, releases=kept + (replace(release, status="starting"),))


def mark_live(state: State, release_id: str) -> State:
    """The release serves traffic; the one live before becomes "previous"."""
    old = state.live
    state = _set(state, release_id, "live")
    if old and old != release_id:
        state = _set(state, old, "previous")
    return replace(state, live=release_id)


def mark_failed(state: State, release_id: str) -> State:
    """The release never got healthy (its container is removed)."""
    return _set(state, release_id, "failed")


def mark_retired(state: State, release_id: str) -> State:
    """The release was pruned: its container and image are gone."""
    return _set(state, release_id, "retired")


def rollback_target(state: State, to: str | None = None) -> Release:
    """The release a rollback makes live: `to`, or the newest previous healthy one."""
    if to is not None:
        release = state.get(to)
        if release.status not in ("previous", "live"):
            raise OtterError(f"release {to} is {release.status}: only a release that was "
                             "live and is kept can be rolled back to")
        return release
    previous = [r for r in state.releases if r.status == "previous"]
    if not previous:
        raise OtterError("no previous healthy release to roll back to")
    return max(previous, key=lambda r: r.id)


def prune_candidates(state: State, keep: int) -> list[Release]:
    """Releases past the newest `keep` that were live (the live one always stays)."""
    kept = [r for r in state.releases if r.status in ("live", "previous")]
    kept.sort(key=lambda r: (r.id == state.live, r.id), reverse=True)
    return sorted(kept[max(keep, 1):], key=lambda r: r.id)


def images_to_remove(state: State, pruned: list[Release],
                     runtime: str | None = None) -> list[str]:
    """Digests of `pruned` and failed releases that no kept release still uses; with
    `runtime`, among the releases that runtime kind started (each kind has its own store)."""
    gone = {r.id for r in pruned}
    mine = [r for r in state.releases if runtime is None or r.runtime == runtime]
    needed = {r.digest for r in mine
              if r.id not in gone and r.status in ("starting", "live", "previous")}
    candidates = [r.digest for r in mine if r.id in gone or r.status == "failed"]
    return list(dict.fromkeys(d for d in candidates if d not in needed))


def trim_history(state: State, limit: int = HISTORY_LIMIT) -> State:
    """Forget the oldest failed and retired records beyond `limit`."""
    old = [r for r in state.releases if r.status in ("failed", "retired")]
    drop = {r.id for r in sorted(old, key=lambda r: r.id)[:max(len(old) - limit, 0)]}
    return replace(state, releases=tuple(r for r in state.releases if r.id not in drop))

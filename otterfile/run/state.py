"""Release state on a target, as pure functions over `releases.json`.

Statuses: "starting" (container up, not yet healthy), "live" (serving), "previous"
(was live, superseded; image kept, a rollback candidate), "failed" (never healthy,
removed), "retired" (pruned past keep_releases: container and image gone).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime, timezone
from typing import Any, Callable, Sequence

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


@dataclass(frozen=True)
class Kinds:
    """What a releases.json is read against: the runtime and proxy kinds this otter knows,
    the ones a record without them gets (the Otterfile's: files of otter 0.x name none),
    and the instance each runtime kind names for a release."""

    runtimes: Sequence[str]
    proxies: Sequence[str]
    runtime: str  # assumed for a record that names no runtime
    proxy: str | None  # likewise for the proxy (None: not behind one, strategy="recreate")
    instance_name: Callable[[str, str], str] | None = None  # (runtime, release id) -> name

    def named(self, release: Release) -> str | None:
        """The instance otter names for `release`, under the runtime that started it."""
        if self.instance_name is None:
            return release.instance
        return self.instance_name(release.runtime or self.runtime, release.id)

    def fits(self, release: Release) -> bool:
        """Whether `release`'s instance is the name otter gives it: under its runtime, or
        (a record that names none) under any runtime kind."""
        if self.instance_name is None or release.runtime:
            return release.instance == self.named(release)
        return release.instance in {self.instance_name(kind, release.id)
                                    for kind in self.runtimes}


def parse_state(text: str, where: str = "releases.json", kinds: Kinds | None = None) -> State:
    """A State from the file's text; empty text is an empty state.

    The file lives on a target, so nothing in it is trusted: ids, digests, ports,
    statuses, `live`, field types and, with `kinds`, runtime and proxy kinds are checked,
    and each release's instance must be the name its runtime gives it. Any violation is an
    OtterError naming `where` and the field. Unknown keys are tolerated. A record without
    a runtime or proxy keeps None there (see `assume_kinds`).
    """
    if not text.strip():
        return State()
    try:
        data = json.loads(text)
    except (ValueError, RecursionError) as error:
        raise OtterError(f"{where}: not a release state file ({error})") from None
    try:
        return _checked_state(data, kinds)
    except _Invalid as error:
        raise OtterError(f"{where}: not a valid release state file: {error}") from None


def assume_kinds(state: State, runtime: str, proxy: str | None,
                 infer: Callable[[Release], str] | None = None) -> tuple[State, list[str]]:
    """`state` with a runtime (`infer`'s answer, else `runtime`, the Otterfile's) and `proxy`
    filled in where a record names none, and the ids of the records that named no runtime."""
    assumed = [r.id for r in state.releases if r.runtime is None]
    releases = tuple(r if r.runtime else replace(r, runtime=infer(r) if infer else runtime,
                                                 proxy=r.proxy or proxy)
                     for r in state.releases)
    return replace(state, releases=releases), assumed


class _Invalid(Exception):
    """One field of releases.json is wrong; the message starts with its path."""


_ID = re.compile(r"[0-9]{8}T[0-9]{6}-[0-9a-f]{8}")  # what new_release_id makes
_DIGEST = re.compile(r"(sha256:)?[0-9a-f]{64}")  # an image id, or a file's sha256


def _optional_str(value: object) -> bool:
    return value is None or isinstance(value, str)


# field: (check, what it should be); "id" and "digest" are required.
_FIELDS: dict[str, tuple[Callable[[object], bool], str]] = {
    "id": (lambda v: isinstance(v, str) and bool(_ID.fullmatch(v)),
           "a release id like 20240102T030405-0a1b2c3d"),
    "digest": (lambda v: isinstance(v, str) and bool(_DIGEST.fullmatch(v)),
               "sha256:<64 hex> or 64 hex"),
    "image": (lambda v: isinstance(v, str), "a string"),
    "commit": (_optional_str, "a string or null"),
    "ref": (_optional_str, "a string or null"),
    "created": (lambda v: isinstance(v, str), "a string"),
    "status": (lambda v: isinstance(v, str) and v in STATUSES, f"one of {', '.join(STATUSES)}"),
    "port": (lambda v: v is None or (type(v) is int and 1 <= v <= 65535),
             "a port 1..65535 or null"),
    "instance": (_optional_str, "a string or null"),
    "config": (_optional_str, "a string or null"),
    "runtime": (lambda v: v is None or (isinstance(v, str) and bool(_KIND.fullmatch(v))),
                "a runtime kind or null"),
    "proxy": (lambda v: v is None or (isinstance(v, str) and bool(_KIND.fullmatch(v))),
              "a proxy kind or null"),
}
_KIND: re.Pattern[str] = re.compile(r"[a-z][a-z0-9]{0,19}")  # typed: read by lambdas above


def _checked_state(data: object, kinds: Kinds | None) -> State:
    if not isinstance(data, dict):
        raise _Invalid(f"expected an object, got {_shown(data)}")
    records = data.get("releases", [])
    if not isinstance(records, list):
        raise _Invalid(f"releases: expected a list, got {_shown(records)}")
    releases = tuple(_checked_release(f"releases/{n}", record, kinds)
                     for n, record in enumerate(records))
    ids = [r.id for r in releases]
    for n, release_id in enumerate(ids):
        if release_id in ids[:n]:
            raise _Invalid(f"releases/{n}/id: {release_id} is listed twice")
    live = data.get("live")
    if live is not None and live not in ids:
        raise _Invalid(f"live: {_shown(live)} is not a release in the file")
    extra = {k: v for k, v in data.items() if k not in ("releases", "live")}
    return State(releases, live, extra)


def _checked_release(path: str, record: object, kinds: Kinds | None) -> Release:
    if not isinstance(record, dict):
        raise _Invalid(f"{path}: expected an object, got {_shown(record)}")
    record = _legacy(record)
    for key in ("id", "digest"):
        if key not in record:
            raise _Invalid(f"{path}/{key}: missing")
    values = {k: v for k, v in record.items() if k in _FIELDS}
    for key, value in values.items():
        check, expected = _FIELDS[key]
        if not check(value):
            raise _Invalid(f"{path}/{key}: expected {expected}, got {_shown(value)}")
    release = Release(**values)
    if kinds is None:
        return release
    for key, known in (("runtime", kinds.runtimes), ("proxy", kinds.proxies)):
        if values.get(key) is not None and values[key] not in known:
            raise _Invalid(f"{path}/{key}: expected one of {', '.join(known)}, "
                           f"got {_shown(values[key])}")
    if not kinds.fits(release):  # else otter would stop or remove what it names
        raise _Invalid(f"{path}/instance: {_shown(release.instance)} is not the instance "
                       f"otter names for release {release.id} ({kinds.named(release)!r})")
    return release


def _shown(value: object, limit: int = 60) -> str:
    """A value from the file as a message shows it: repr (no raw control characters), cut."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _legacy(record: dict[str, Any]) -> dict[str, Any]:
    """A release record as this version names its fields (0.1 wrote "container")."""
    if "container" in record and "instance" not in record:
        record = {**record, "instance": record["container"]}
    return record


def format_state(state: State) -> str:
    """The file's text: stable JSON, one trailing newline."""
    data = {**state.extra, "releases": [asdict(r) for r in state.releases],
            "live": state.live}
    return json.dumps(data, indent=2, sort_keys=True) + "\n"


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


def log_record(*, who: str, deployment: str, digest: str, result: str,
               stages: dict[str, float], release: str | None = None,
               commit: str | None = None, when: datetime | None = None) -> str:
    """One deploy-log line (JSON, no newline inside): who, when, what, result, timings."""
    when = (when or datetime.now(timezone.utc)).astimezone(timezone.utc)
    record = {"when": when.isoformat(timespec="seconds"), "who": who,
              "deployment": deployment, "release": release, "digest": digest,
              "commit": commit, "result": result,
              "seconds": {k: round(v, 3) for k, v in stages.items()}}
    return json.dumps(record, sort_keys=True)


def parse_log(text: str) -> list[dict[str, Any]]:
    """Deploy-log records from JSON lines; a torn or foreign line, or a record whose known
    fields have the wrong types, is skipped."""
    records = []
    for line in text.splitlines():
        try:
            value = json.loads(line)
        except (ValueError, RecursionError):
            continue
        if isinstance(value, dict) and _log_record_ok(value):
            records.append(value)
    return records


_LOG_TEXT = ("when", "who", "deployment", "release", "digest", "commit", "result")


def _log_record_ok(record: dict[str, Any]) -> bool:
    seconds = record.get("seconds", {})
    return (all(_optional_str(record.get(k)) for k in _LOG_TEXT)
            and isinstance(seconds, dict) and all(map(_finite, seconds.values())))


def _finite(value: object) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too big for a float
        return False

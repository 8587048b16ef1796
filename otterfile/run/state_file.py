"""`releases.json` as text: `parse_state` reads it, `format_state` writes it. The file lives
on a target, so nothing in it is trusted: every field is checked (an OtterError names the
file and the field's path), and, with the `Kinds` this otter knows, each record's runtime
and proxy kinds and the instance its runtime names for it; `assume_kinds` fills in the
kinds a record of an older otter does not name."""
from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass, replace
from typing import Any, Callable, Sequence

from otterfile.errors import OtterError
from otterfile.run.state import STATUSES, Release, State


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

"""What an Otterfile's functions return: artifact sources, runtimes, deployments.

Constructors only store what they are given; `evaluate` checks every field and
reports a path such as `deployment production/runtime/port`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from otterfile.secrets import Secret

# What the DSL functions accept (evaluate checks each value and names its path)
Ref = str | Callable[..., Any]  # a declared object: its name or its function
Env = Mapping[str, str | int | float | Secret]
Words = str | Sequence[str]  # a command line: one string split as a shell would, or argv

STAGES = ("acquire", "ship", "start", "health", "switch", "retire")
# after=DEPLOYED: once every target of the run has finished its stages (retired the old)
DEPLOYED = "deploy"


@dataclass(frozen=True)
class Image:
    """A container image the controller's Docker engine has already (artifacts/image.py
    acquires it)."""

    ref: str


def image(ref: str) -> Image:
    """An image already in the controller's Docker engine (your CI's or your own `docker
    build`, or `docker load`): `image("myapp:1.4")`, or by id `image("sha256:...")`. Its
    image id is the release's digest; it ships to the targets as a built image does."""
    return Image(ref)


@dataclass(frozen=True)
class Build:
    """Build from a git repository at a ref, or from a local tree, with a command."""

    repo: str | None = None
    ref: str | None = None
    path: str | None = None
    command: str | None = None
    image: str | None = None
    output: str | None = None
    on: Any = None
    push: str | None = None
    token: Any = None  # secret(...): the password git sends for an https repo
    pull_from: str | None = None  # the repository as the targets reach it (default: push)
    username: str | None = None  # the registry login for push and pull
    password: Any = None  # secret(...)
    via: str = "controller"  # on=: how targets get it ("controller" streams, "url" serves)


@dataclass(frozen=True)
class Fetch:
    """A pre-built file downloaded by the controller (or each target, via="target")."""

    url: str
    sha256: str | None = None
    via: str = "controller"


@dataclass(frozen=True)
class Registry:
    """An image the targets pull from a container registry."""

    ref: str
    username: str | None = None
    password: Any = None  # secret(...): sent to `docker login` on stdin, never shown


@dataclass(frozen=True)
class Docker:
    """Run the artifact as a Docker container."""

    image: str | None = None
    port: Any = None
    env: Any = field(default_factory=dict)
    volumes: Any = field(default_factory=list)
    command: Any = None
    options: Any = field(default_factory=list)
    init: Any = True  # an init as PID 1 (--init): SIGTERM reaches the app


@dataclass(frozen=True)
class Podman(Docker):
    """Run the artifact as a Podman container."""


@dataclass(frozen=True)
class Systemd:
    """Unpack the artifact into a release folder and run it as a systemd service."""

    command: Any = None
    port: Any = None
    env: Any = field(default_factory=dict)
    user: str | None = None
    max_unpacked: Any = None  # bytes (or "2GiB") an archive may unpack to; None: the default
    max_files: Any = None  # files an archive may hold; None: the default


@dataclass(frozen=True)
class HealthCheck:
    """When a new release counts as healthy: `path` answers `expect_status`, and keeps
    answering so for `min_ready_seconds` after the first time."""

    path: Any = "/"
    interval_seconds: Any = 30
    timeout_seconds: Any = 60
    expect_status: Any = 200
    min_ready_seconds: Any = 0


@dataclass(frozen=True)
class Caddy:
    """Caddy as the reverse proxy; tls is "auto", "internal" or "off"."""

    tls: Any = "auto"
    hsts: Any = False  # Strict-Transport-Security on the HTTPS sites
    # "file": the live port read per request, no reload; "reload": named in the site.
    # Out of repr: the fingerprint adds it only when not the default (flow.fingerprint)
    switch: Any = field(default="file", repr=False)
    kind = "caddy"


@dataclass(frozen=True)
class Nginx:
    """nginx as the reverse proxy; tls is None or (cert path, key path)."""

    tls: Any = None
    hsts: Any = False  # Strict-Transport-Security on the HTTPS sites
    switch: Any = field(default="file", repr=False)  # as Caddy's
    kind = "nginx"


@dataclass(frozen=True)
class Deployment:
    """An artifact run by a runtime on targets, served for domains."""

    artifact: Any = None
    runtime: Any = None
    targets: Any = None
    domains: Any = field(default_factory=list)
    health_check: Any = None
    proxy: Any = field(default_factory=Caddy)
    keep_releases: Any = 5
    parallel: Any = None
    on_failure: Any = "stop"
    steps: Any = field(default_factory=list)
    name: Any = None  # names each item when a @deployment returns a list
    drain_seconds: Any = 2  # the old release serves in-flight requests this long after a switch
    stop_seconds: Any = 10  # then it gets this long to stop before it is killed
    strategy: Any = "bluegreen"  # "recreate": stop the old, then start the new
    canary: Any = False  # the first target deploys alone before the batches
    relay: Any = None  # True: targets pass the image on to each other (None, False: off)
    hold_seconds: Any = 30  # recreate: how long the proxy holds requests during the swap
    snapshots: Any = None  # Snapshots(...): the data copied before each release (load/snapshots.py)
    preview_domain: Any = None  # "{label}.preview.example.com": `otter run NAME --preview`
    previews: Any = 3  # how many previews may run at once
    rollback_window: Any = 0  # seconds the superseded release keeps running (instant rollback)
    schedules: Any = field(default_factory=list)  # Schedule(...)s: load/schedule.py
    balance: Any = "local"  # "fleet": each proxy also forwards to the other targets (load/balance.py)


def build(repo: str | None = None, ref: str | None = None, command: str | None = None, *,
          path: str | None = None, image: str | None = None, output: str | None = None,
          on: Ref | None = None, push: str | None = None, token: Secret | None = None,
          pull_from: str | None = None, username: str | None = None,
          password: Secret | None = None, via: str = "controller") -> Build:
    """Build an artifact: `build(repo=URL, ref=REF, command=CMD)` or `build(path=DIR, ...)`.

    `token=secret("GIT_TOKEN")` authenticates to an https repository without putting the
    token in the URL, on a command line or in git's config. `push="host:port/app"` pushes
    the built image there and the targets pull it by digest (from `pull_from=` when they
    reach the registry under another name), logged in with `username=` and
    `password=secret(...)` when given. `on="builder"` builds on that target (a repo=URL
    it can reach) and streams the result to the other targets through the controller."""
    return Build(repo, ref, path, command, image, output, on, push, token, pull_from,
                 username, password, via)


def fetch(url: str, sha256: str | None = None, via: str = "controller") -> Fetch:
    """A pre-built file: a tarball, a binary or a `docker save` archive."""
    return Fetch(url, sha256, via)


def registry(ref: str, username: str | None = None, password: Secret | None = None) -> Registry:
    """An image each target pulls: `registry("host:port/app:tag")`, pinned at deploy by
    the digest the first target resolved; `username=` and `password=secret("NAME")` log in
    (the password on stdin, never on a command line)."""
    return Registry(ref, username, password)


def docker(image: str | None = None, port: int | None = None, env: Env | None = None,
           volumes: Sequence[str] | None = None, command: Words | None = None,
           options: Sequence[str] | None = None, init: bool = True) -> Docker:
    """A Docker runtime: `docker load` when needed, then `docker run`; `init=False` runs
    the image's entrypoint as PID 1 itself."""
    return Docker(image, port, {} if env is None else env, [] if volumes is None else volumes,
                  command, [] if options is None else options, init)


def podman(image: str | None = None, port: int | None = None, env: Env | None = None,
           volumes: Sequence[str] | None = None, command: Words | None = None,
           options: Sequence[str] | None = None, init: bool = True) -> Podman:
    """The same as docker(), run with podman."""
    return Podman(image, port, {} if env is None else env, [] if volumes is None else volumes,
                  command, [] if options is None else options, init)


def systemd(command: str | None = None, port: int | None = None, env: Env | None = None,
            user: str | None = None, max_unpacked: int | str | None = None,
            max_files: int | None = None) -> Systemd:
    """A generated systemd service; `{port}` in command is filled in. An archive artifact
    may unpack to at most `max_unpacked` bytes (an int, or "2GiB", "500MB"; default 20
    times the archive, at least 64 MiB, at most 10 GiB) and `max_files` files (200,000)."""
    return Systemd(command, port, {} if env is None else env, user, max_unpacked, max_files)


def caddy(tls: str = "auto", hsts: bool = False, switch: str = "file") -> Caddy:
    """Caddy as the reverse proxy (the default): tls "auto" (ACME), "internal" (Caddy's own
    CA) or "off"; `hsts=True` adds Strict-Transport-Security where TLS is on. A switch
    renames the port file the site reads per request (`switch="file"`, no reload) or
    rewrites the site and reloads Caddy (`switch="reload"`)."""
    return Caddy(tls, hsts, switch)


def nginx(tls: tuple[str, str] | None = None, hsts: bool = False,
          switch: str = "file") -> Nginx:
    """nginx as the reverse proxy; `tls=("cert.pem", "key.pem")` serves HTTPS with files
    shipped from beside the Otterfile, or `("host:/etc/ssl/a.pem", "host:/etc/ssl/a.key")`
    already on each target. `switch="file"`: njs reads the live port per request (no
    reload; installed with nginx, else the switch reloads); `switch="reload"`: the site
    names the port, with kept upstream connections, and every switch reloads nginx."""
    return Nginx(tls, hsts, switch)

"""What an Otterfile's functions return: artifact sources, runtimes, deployments.

Constructors only store what they are given; `evaluate` checks every field and
reports a path such as `deployment production/runtime/port`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

STAGES = ("acquire", "ship", "start", "health", "switch", "retire")


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
    """When a new release counts as healthy: `path` answers `expect_status`."""

    path: Any = "/"
    interval_seconds: Any = 30
    timeout_seconds: Any = 60
    expect_status: Any = 200


@dataclass(frozen=True)
class Caddy:
    """Caddy as the reverse proxy; tls is "auto", "internal" or "off"."""

    tls: Any = "auto"
    hsts: Any = False  # Strict-Transport-Security on the HTTPS sites
    kind = "caddy"


@dataclass(frozen=True)
class Nginx:
    """nginx as the reverse proxy; tls is None or (cert path, key path)."""

    tls: Any = None
    hsts: Any = False  # Strict-Transport-Security on the HTTPS sites
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
    strategy: Any = "bluegreen"  # "recreate": stop the old, then start the new; no proxy
    canary: Any = False  # the first target deploys alone before the batches
    relay: Any = None  # True: targets pass the image on to each other (None, False: off)


def build(repo=None, ref=None, command=None, *, path=None, image=None, output=None, on=None,
          push=None, token=None, pull_from=None, username=None, password=None,
          via="controller") -> Build:
    """Build an artifact: `build(repo=URL, ref=REF, command=CMD)` or `build(path=DIR, ...)`.

    `token=secret("GIT_TOKEN")` authenticates to an https repository without putting the
    token in the URL, on a command line or in git's config. `push="host:port/app"` pushes
    the built image there and the targets pull it by digest (from `pull_from=` when they
    reach the registry under another name), logged in with `username=` and
    `password=secret(...)` when given. `on="builder"` builds on that target (a repo=URL
    it can reach) and streams the result to the other targets through the controller."""
    return Build(repo, ref, path, command, image, output, on, push, token, pull_from,
                 username, password, via)


def fetch(url, sha256=None, via="controller") -> Fetch:
    """A pre-built file: a tarball, a binary or a `docker save` archive."""
    return Fetch(url, sha256, via)


def registry(ref, username=None, password=None) -> Registry:
    """An image each target pulls: `registry("host:port/app:tag")`, pinned at deploy by
    the digest the first target resolved; `username=` and `password=secret("NAME")` log in
    (the password on stdin, never on a command line)."""
    return Registry(ref, username, password)


def docker(image=None, port=None, env=None, volumes=None, command=None, options=None,
           init=True) -> Docker:
    """A Docker runtime: `docker load` when needed, then `docker run`; `init=False` runs
    the image's entrypoint as PID 1 itself."""
    return Docker(image, port, {} if env is None else env, [] if volumes is None else volumes,
                  command, [] if options is None else options, init)


def podman(image=None, port=None, env=None, volumes=None, command=None, options=None,
           init=True) -> Podman:
    """The same as docker(), run with podman."""
    return Podman(image, port, {} if env is None else env, [] if volumes is None else volumes,
                  command, [] if options is None else options, init)


def systemd(command=None, port=None, env=None, user=None, max_unpacked=None,
            max_files=None) -> Systemd:
    """A generated systemd service; `{port}` in command is filled in. An archive artifact
    may unpack to at most `max_unpacked` bytes (an int, or "2GiB", "500MB"; default 20
    times the archive, at least 64 MiB, at most 10 GiB) and `max_files` files (200,000)."""
    return Systemd(command, port, {} if env is None else env, user, max_unpacked, max_files)


def caddy(tls="auto", hsts=False) -> Caddy:
    """Caddy as the reverse proxy (the default): tls "auto" (ACME), "internal" (Caddy's own
    CA) or "off"; `hsts=True` adds Strict-Transport-Security where TLS is on."""
    return Caddy(tls, hsts)


def nginx(tls=None, hsts=False) -> Nginx:
    """nginx as the reverse proxy; `tls=("cert.pem", "key.pem")` serves HTTPS with files
    shipped from beside the Otterfile, or `("host:/etc/ssl/a.pem", "host:/etc/ssl/a.key")`
    already on each target."""
    return Nginx(tls, hsts)

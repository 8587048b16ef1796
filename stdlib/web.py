"""Web app recipes: a Docker app, a static site and a Python app under systemd."""
from __future__ import annotations

from typing import Any

from otterfile import Deployment, HealthCheck, build, docker, systemd


def docker_app(*, path: str = "app", port: int, targets: Any, domains: Any = (),
               image: str | None = None, env: dict | None = None, health: str = "/",
               volumes: Any = (), **deployment: Any) -> Deployment:
    """A web app built from the Dockerfile in `path` (beside the Otterfile), run with
    Docker on `port`, served for `domains`, healthy when `health` answers 200. Further
    keywords go to Deployment (steps, parallel, proxy, keep_releases...)."""
    tag = image or f"{_slug(path)}:latest"
    return Deployment(artifact=build(path=path, command=f"docker build -q -t {tag} ."),
                      runtime=docker(port=port, env=dict(env or {}), volumes=list(volumes)),
                      targets=targets, domains=list(domains),
                      health_check=_health(health), **deployment)


def static_site(*, path: str = "public", targets: Any, domains: Any = (), port: int = 8000,
                **deployment: Any) -> Deployment:
    """The files under `path` (index.html and the rest), packed into a tarball and served
    behind the proxy by Python's http.server under systemd (the target needs python3)."""
    return python_app(path=path, port=port, targets=targets, domains=domains,
                      command="/usr/bin/python3 -m http.server {port} --bind 127.0.0.1",
                      **deployment)


def python_app(*, path: str = "app", command: str, port: int, targets: Any,
               domains: Any = (), env: dict | None = None, health: str | None = "/",
               user: str | None = None, **deployment: Any) -> Deployment:
    """A Python app from `path`, packed into a tarball on the controller, unpacked into a
    release folder on each target and run as a systemd service by `command` (`{port}` is
    filled in: the app listens there on 127.0.0.1). Dependencies are the app's to carry
    (vendored, or a zipapp); the target needs python3."""
    output = f"{_slug(path)}.tar.gz"
    # the same bytes for the same files (no dates, fixed order): unchanged code, no new release
    pack = (f't=$(mktemp) && tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner '
            f'--exclude=./{output} --exclude=__pycache__ -cf - . | gzip -n > "$t" '
            f'&& mv "$t" {output}')
    return Deployment(artifact=build(path=path, command=pack, output=output),
                      runtime=systemd(command=command, port=port, env=dict(env or {}),
                                      user=user),
                      targets=targets, domains=list(domains),
                      health_check=_health(health), **deployment)


def _health(path: str | None) -> HealthCheck | None:
    """`path` answering 200 within 30s; None: no HTTP check (a worker)."""
    return HealthCheck(path=path, timeout_seconds=30) if path else None


def _slug(path: str) -> str:
    name = path.rstrip("/").rsplit("/", 1)[-1].lower()
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name) or "app"

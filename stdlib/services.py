"""Stateful services: one instance per host, stopped before a new one starts
(strategy="recreate"), their data in a named volume kept across releases. Other
deployments on the host reach them on 127.0.0.1:PORT."""
from __future__ import annotations

from typing import Any

from otterfile import Deployment, docker, registry, secret


def postgres(*, targets: Any, image: str = "postgres:16", port: int = 5432,
             password: Any = None, volume: str = "otter-postgres-data",
             **deployment: Any) -> Deployment:
    """PostgreSQL from `image` (pulled by the targets), listening on 127.0.0.1:`port`,
    its data in the named volume `volume`; the superuser password is a secret
    (default `secret("POSTGRES_PASSWORD")`), written only to the env file."""
    return Deployment(
        artifact=registry(image),
        runtime=docker(port=port,
                       env={"POSTGRES_PASSWORD": password or secret("POSTGRES_PASSWORD"),
                            "PGPORT": str(port)},
                       volumes=[f"{volume}:/var/lib/postgresql/data"]),
        targets=targets, strategy="recreate", **deployment)


def redis(*, targets: Any, image: str = "redis:7", port: int = 6379,
          volume: str = "otter-redis-data", **deployment: Any) -> Deployment:
    """Redis from `image` with append-only persistence on 127.0.0.1:`port`, its data in the
    named volume `volume`. Bound to the host's loopback only; it has no password."""
    return Deployment(
        artifact=registry(image),
        runtime=docker(port=port, volumes=[f"{volume}:/data"],
                       command=["redis-server", "--appendonly", "yes", "--port", str(port)]),
        targets=targets, strategy="recreate", **deployment)

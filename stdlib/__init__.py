"""Recipes that ship with otter, imported as otterfile.stdlib.

Each is a plain function returning model objects (a `Deployment`, or a step function for
`Deployment(steps=[...])`); an Otterfile calls them inside its own decorated functions:

    from otterfile import deployment, ssh
    from otterfile.stdlib import docker_app

    @deployment
    def production():
        return docker_app(path="app", port=3000, targets=[ssh("root@web1")],
                          domains=["myapp.com"])
"""
from .services import postgres, redis
from .steps import backup, migration
from .web import docker_app, python_app, static_site

__all__ = ["backup", "docker_app", "migration", "postgres", "python_app", "redis",
           "static_site"]

"""otterfile.stdlib: what each recipe returns, and recipes evaluated inside an Otterfile
(imported from the stdlib, beside the Otterfile and from OTTER_PATH)."""
from __future__ import annotations

import pytest

import otterfile.stdlib as stdlib
from otterfile import Deployment, HealthCheck, build, docker, registry, secret, ssh, systemd
from otterfile.load.dsl import mark_of
from otterfile.errors import OtterfileError
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load

pytestmark = pytest.mark.unit
HOSTS = [ssh("root@web1")]


def test_all_is_pinned():
    assert stdlib.__all__ == ["backup", "docker_app", "migration", "postgres", "python_app",
                              "redis", "static_site"]


def test_docker_app():
    dep = stdlib.docker_app(path="site/app", port=3000, targets=HOSTS, domains=["a.test"],
                            health="/health", parallel=1)
    assert dep == Deployment(artifact=build(path="site/app", command="docker build -q -t "
                                            "app:latest ."),
                             runtime=docker(port=3000), targets=HOSTS, domains=["a.test"],
                             health_check=HealthCheck("/health", timeout_seconds=30),
                             parallel=1)


def test_python_app_is_a_tarball_under_systemd():
    dep = stdlib.python_app(path="api", command="python3 -m api --port {port}", port=8000,
                            targets=HOSTS, domains=["api.test"])
    assert dep.artifact.output == "api.tar.gz" and dep.artifact.path == "api"
    assert dep.artifact.command.endswith('&& mv "$t" api.tar.gz')
    assert dep.runtime == systemd(command="python3 -m api --port {port}", port=8000)
    assert dep.strategy == "bluegreen" and dep.domains == ["api.test"]


def test_static_site_serves_its_folder_with_python():
    dep = stdlib.static_site(path="public", targets=HOSTS, domains=["s.test"])
    assert dep.artifact.output == "public.tar.gz"
    assert dep.runtime.command == "/usr/bin/python3 -m http.server {port} --bind 127.0.0.1"


def test_postgres_is_recreated_with_a_volume_and_a_secret():
    dep = stdlib.postgres(targets=HOSTS)
    assert dep.artifact == registry("postgres:16") and dep.strategy == "recreate"
    assert dep.runtime.volumes == ["otter-postgres-data:/var/lib/postgresql/data"]
    assert dep.runtime.env["POSTGRES_PASSWORD"] == secret("POSTGRES_PASSWORD")
    assert dep.runtime.port == 5432 and not dep.domains


def test_redis_is_recreated_with_a_volume():
    dep = stdlib.redis(targets=HOSTS, port=6380)
    assert dep.strategy == "recreate" and dep.runtime.volumes == ["otter-redis-data:/data"]
    assert dep.runtime.command == ["redis-server", "--appendonly", "yes", "--port", "6380"]


def test_migration_and_backup_are_steps():
    migrate, save = stdlib.migration("./migrate {container}"), stdlib.backup("pg_dumpall")
    assert mark_of(migrate).options == {"deployment": None, "before": "switch", "after": None,
                                        "on": "once"}
    assert mark_of(migrate).name == "migrate" and mark_of(save).name == "backup"
    assert mark_of(save).options["before"] == "start"



def test_a_two_phase_migration_is_an_expand_and_a_contract_step():
    expand, contract = stdlib.migration(expand="./m expand", contract="./m contract", name="db")
    assert (mark_of(expand).name, mark_of(contract).name) == ("db-expand", "db-contract")
    assert mark_of(expand).options == {"deployment": None, "before": "switch", "after": None,
                                       "on": "once"}
    assert mark_of(contract).options == {"deployment": None, "before": None, "after": "deploy",
                                         "on": "once", "contract": True}
    assert expand.__doc__ == "run './m expand'"
    only, = stdlib.migration(contract="./m contract")
    assert mark_of(only).name == "migrate-contract"
    with pytest.raises(TypeError, match="not both"):
        stdlib.migration("./m", contract="./c")
    with pytest.raises(TypeError, match=r"migration\(expand=...\): expected a shell command"):
        stdlib.migration(expand="  ", contract="./c")


class StepCtx:
    """What a recipe's step reads of ctx: whether it is a rollback; what it ran and said."""

    def __init__(self, rollback: bool) -> None:
        self.rollback, self.ran, self.said = rollback, [], []

    def run(self, command):
        self.ran.append(command)

    def log(self, message):
        self.said.append(message)


@pytest.mark.parametrize("rollback", [True, False])
def test_a_migration_runs_in_a_rollback_unless_rollback_false(rollback):
    deploy, back = StepCtx(rollback=False), StepCtx(rollback=True)
    step, = [stdlib.migration("./m {container}", rollback=rollback)]
    step(deploy), step(back)
    assert deploy.ran == ["./m {container}"]
    assert back.ran == (["./m {container}"] if rollback else [])
    assert back.said == ([] if rollback else ["migrate: skipped in a rollback (rollback=False)"])
    expand, contract = stdlib.migration(expand="./e", contract="./c", rollback=rollback)
    expand(back)
    assert back.ran[-1:] == (["./e"] if rollback else back.ran[-1:]) and "./e" not in \
        (back.ran if not rollback else [])
    with pytest.raises(TypeError, match=r"migration\(rollback=...\): expected True or False"):
        stdlib.migration("./m", rollback="no")


RECIPE_FILE = '''
from otterfile import *
from otterfile.stdlib import docker_app, migration, redis
import {module}

@deployment
def production():
    return [docker_app(path="app", port=8080, targets=[ssh("root@web1")],
                       domains=["a.test"], name="web",
                       steps=[migration("echo {{container}}")]),
            redis(targets=[ssh("root@web1")], name="cache")]

@deployment
def extra():
    return {module}.service()
'''
MODULE = '''from otterfile import Deployment, build, docker, ssh

def service(port=9000):
    if port == 0:
        raise ValueError("no port")
    return Deployment(artifact=build(path=".", command="docker build -t x ."),
                      runtime=docker(port=port), targets=[ssh("root@web2")])
'''


def test_recipes_from_the_stdlib_beside_the_file_and_otter_path(tmp_path, monkeypatch):
    (tmp_path / "beside.py").write_text(MODULE)
    (tmp_path / "Otterfile.py").write_text(RECIPE_FILE.format(module="beside"))
    project = evaluate(load(tmp_path / "Otterfile.py"))
    assert project.deployments["web"].steps[0].name == "migrate"
    assert project.deployments["cache"].strategy == "recreate"
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "shared_recipes.py").write_text(MODULE)
    (tmp_path / "Otterfile.py").write_text(RECIPE_FILE.format(module="shared_recipes"))
    with pytest.raises(OtterfileError, match="No module named 'shared_recipes'"):
        load(tmp_path / "Otterfile.py")
    monkeypatch.setenv("OTTER_PATH", str(shared))
    assert "extra" in evaluate(load(tmp_path / "Otterfile.py")).deployments


def test_a_recipe_error_names_the_recipe_line_and_the_otterfile_line(tmp_path):
    (tmp_path / "beside.py").write_text(MODULE)
    (tmp_path / "Otterfile.py").write_text(RECIPE_FILE.format(module="beside")
                                           .replace("service()", "service(0)"))
    with pytest.raises(OtterfileError) as caught:
        evaluate(load(tmp_path / "Otterfile.py"))
    assert str(caught.value) == (
        f"{tmp_path}/Otterfile.py:15: deployment extra: ValueError: no port "
        f"(raised in recipe {tmp_path}/beside.py:5)")


def test_python_app_packs_the_same_bytes_for_the_same_files(tmp_path):
    import hashlib
    import os
    import subprocess
    app = tmp_path / "app"
    app.mkdir()
    (app / "server.py").write_text("print('hi')\n")
    pack = stdlib.python_app(path="app", command="python3 server.py", port=8000,
                             targets=HOSTS).artifact.command
    digests = []
    for stamp in (1_000_000_000, 1_500_000_000):  # the files touched in between
        os.utime(app / "server.py", (stamp, stamp))
        subprocess.run(["sh", "-c", pack], cwd=app, check=True)
        digests.append(hashlib.sha256((app / "app.tar.gz").read_bytes()).hexdigest())
    assert digests[0] == digests[1]
    listed = subprocess.run(["tar", "tzf", str(app / "app.tar.gz")], capture_output=True,
                            text=True, check=True).stdout.split()
    assert "./server.py" in listed and "./app.tar.gz" not in listed

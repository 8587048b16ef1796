"""Docker command builders: exact argv, and the start script run for real with a fake engine."""
from __future__ import annotations

import os
import shutil
import socket
import stat
from dataclasses import replace

import pytest

from otterfile.command import SecretText
from otterfile.commands import docker
from otterfile.commands.files import remove_file, render_env_file, write_file
from otterfile.errors import OtterError, OtterfileError
from otterfile.executors.local import LocalExecutor
from otterfile.secrets import Secret

pytestmark = pytest.mark.unit

SECRET = "hunter2-very-secret"
RUN = dict(deployment="production", release="20240102T030405-0a1b2c3d", digest="sha256:0a1b")
NAME = "otter-production-20240102T030405-0a1b2c3d"

# A stand-in for docker: logs its argv, and answers `run` as the test's mode file says.
FAKE_ENGINE = r"""#!/bin/sh
d=$(dirname "$0")
echo "$*" >> "$d/calls"
case "$1" in
  run)
    n=$(cat "$d/runs" 2>/dev/null || echo 0); n=$((n + 1)); echo "$n" > "$d/runs"
    mode=$(sed -n "${n}p" "$d/modes"); [ -n "$mode" ] || mode=ok
    case "$mode" in
      ok) echo "WARNING: some noise" >&2; echo "cid$n"; exit 0 ;;
      clash) echo "Bind for 127.0.0.1:x failed: port is already allocated" >&2; exit 125 ;;
      inuse) echo "listen tcp4 127.0.0.1:x: bind: address already in use" >&2; exit 126 ;;
      *) echo "Unable to find image 'nope:latest' locally" >&2; exit 125 ;;
    esac ;;
  container) [ -f "$d/exists" ] || exit 1
    [ "$2" = inspect ] && [ "$3" = -f ] && echo "exited 137 2 true"; exit 0 ;;
  logs) echo "line one"; echo "boom" >&2 ;;
esac
"""


@pytest.fixture
def engine(tmp_path):
    """Path of a fake engine in its own folder; `modes` lines script successive runs."""
    folder = tmp_path / "engine"
    folder.mkdir()
    path = folder / "docker"
    path.write_text(FAKE_ENGINE)
    path.chmod(0o755)
    return path


def calls(engine) -> list[str]:
    file = engine.parent / "calls"
    return file.read_text().splitlines() if file.exists() else []


def restricted_path(tmp_path, tools: list[str]) -> str:
    """A PATH holding only `tools` (to run a script as on a host that lacks others)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in tools:
        os.symlink(shutil.which(tool), folder / tool)
    return str(folder)


def start(engine, tmp_path, port_range, env=None, **kwargs):
    env_file = str(tmp_path / "state" / "env" / "r1.env") if env is not None else None
    return docker.start_release(str(engine), image="sha256:0a1b", container_port=3000,
                                env=env, env_file=env_file, port_range=port_range, **RUN,
                                **kwargs)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_container_name_and_bad_names():
    assert docker.container_name("production", RUN["release"]) == NAME
    with pytest.raises(OtterError):
        docker.container_name("prod; rm -rf /", "r")
    with pytest.raises(OtterError):
        docker.container_name("-x", "r")


def test_run_container_exact_argv():
    command = docker.run_container("podman", image="myapp", host_port=20001,
                                   container_port=3000, env_file="/var/lib/otter/p/env/r.env",
                                   volumes=["/data:/data:ro"], options=["--memory 512m"],
                                   command="./serve --port 3000", **RUN)
    assert command.argv == (
        "podman", "run", "-d", "-p", "127.0.0.1:20001:3000", "--name", NAME,
        "--label", "otter.deployment=production", "--label", f"otter.release={RUN['release']}",
        "--label", "otter.digest=sha256:0a1b", "--restart", "unless-stopped",
        "--env-file", "/var/lib/otter/p/env/r.env", "-v", "/data:/data:ro",
        "--memory", "512m", "myapp", "./serve", "--port", "3000")


def test_start_release_argv_and_secret_only_in_stdin(tmp_path):
    env = render_env_file({"NODE_ENV": "production", "DB_PASSWORD": Secret("DB", SECRET)})
    command = docker.start_release("docker", image="sha256:0a1b", container_port=3000,
                                   env=env, env_file="/s/env/r.env", command=["a b"], **RUN)
    assert command.argv[:2] == ("sh", "-c")
    assert command.argv[3:] == (
        "sh", "docker", "3000", "20000", "29999", "5", "/s/env/r.env", NAME, "--name", NAME,
        "--label", "otter.deployment=production", "--label", f"otter.release={RUN['release']}",
        "--label", "otter.digest=sha256:0a1b", "--restart", "unless-stopped",
        "--env-file", "/s/env/r.env", "sha256:0a1b", "a b")
    assert all(SECRET not in arg for arg in command.argv_values())
    assert SECRET not in command.display() and "(secret)" in command.display()
    assert SECRET not in repr(command) and command.secret
    assert command.stdin_bytes() == f"NODE_ENV=production\nDB_PASSWORD={SECRET}\n".encode()


def test_start_runs_beside_skipping_a_listening_port(engine, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        low = busy.getsockname()[1]
        env = SecretText(f"A={SECRET}\n")
        result = LocalExecutor().run(start(engine, tmp_path, (low, low + 20), env=env))
    assert result.exited == 0, result.stderr
    port, container = docker.parse_started(result.stdout)
    assert low < port <= low + 20 and container == "cid1"
    env_file = tmp_path / "state" / "env" / "r1.env"
    assert env_file.read_text() == f"A={SECRET}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert calls(engine) == [f"run -d -p 127.0.0.1:{port}:3000 --name {NAME} "
                             f"--label otter.deployment=production --label otter.release="
                             f"{RUN['release']} --label otter.digest=sha256:0a1b --restart "
                             f"unless-stopped --env-file {env_file} sha256:0a1b"]


def test_start_retries_the_next_port_on_a_bind_clash(engine, tmp_path):
    (engine.parent / "modes").write_text("clash\ninuse\nok\n")
    low = free_port()
    result = LocalExecutor().run(start(engine, tmp_path, (low, low + 50)))
    assert result.exited == 0, result.stderr
    port, container = docker.parse_started(result.stdout)
    assert port >= low + 2 and container == "cid3"
    removed = [c for c in calls(engine) if c.startswith("rm")]
    assert removed == [f"rm -f {NAME}"] * 2
    assert "--env-file" not in calls(engine)[-1]


def test_start_gives_up_after_its_tries_with_exit_4(engine, tmp_path):
    (engine.parent / "modes").write_text("clash\n" * 10)
    low = free_port()
    result = LocalExecutor().run(start(engine, tmp_path, (low, low + 50), tries=3))
    assert result.exited == docker.EXIT_NO_PORT
    assert "no free port" in result.stderr and "already allocated" in result.stderr
    assert len([c for c in calls(engine) if c.startswith("run")]) == 3


def test_start_other_failure_is_reported_without_retry(engine, tmp_path):
    (engine.parent / "modes").write_text("missing\n")
    result = LocalExecutor().run(start(engine, tmp_path, (20000, 20100)))
    assert result.exited == 1 and "Unable to find image" in result.stderr
    assert len(calls(engine)) == 1


def test_start_finds_listeners_in_proc_without_ss(engine, tmp_path):
    path = restricted_path(tmp_path, ["sh", "awk", "tr", "tail", "cat", "sed", "dirname",
                                      "mkdir", "mv"])
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        low = busy.getsockname()[1]
        command = start(engine, tmp_path, (low, low + 20))
        command = replace(command, env={"PATH": path})
        result = LocalExecutor().run(command)
    assert result.exited == 0, result.stderr
    assert docker.parse_started(result.stdout)[0] != low


def test_container_status_reports_state_and_logs(engine):
    (engine.parent / "exists").touch()
    command = docker.container_status(str(engine), NAME, log_lines=7)
    result = LocalExecutor().run(command)
    assert result.ok
    status = docker.parse_status(result.stdout)
    assert status == docker.ContainerStatus("exited", 137, 2, True, "line one\nboom")
    assert f"logs --tail 7 {NAME}" in calls(engine)


def test_container_status_missing(engine):
    result = LocalExecutor().run(docker.container_status(str(engine), NAME))
    assert result.exited == docker.EXIT_MISSING and result.ok
    assert docker.parse_status(result.stdout).state == "missing"


def test_stop_logs_prune_list_argv():
    assert docker.stop_container("docker", NAME).argv == ("docker", "stop", "-t", "10", NAME)
    drained = docker.stop_container("docker", NAME, drain_seconds=5, timeout=20)
    assert drained.argv[3:] == ("sh", "5", "docker", "20", NAME)
    assert docker.logs("docker", NAME, follow=True, tail=50).argv == (
        "docker", "logs", "-f", "--tail", "50", NAME)
    assert docker.logs("podman", NAME).argv == ("podman", "logs", "--tail", "100", NAME)
    prune = docker.prune_images("docker", ["sha256:a", "sha256:b", "sha256:a"], ["sha256:b"])
    assert prune.argv[3:] == ("sh", "docker", "sha256:a")
    listing = docker.list_containers("docker", "production")
    assert listing.argv[:6] == ("docker", "ps", "-a", "--no-trunc", "--filter",
                                "label=otter.deployment=production")
    assert '{{.Label "otter.release"}}' in listing.argv[-1]
    assert "index .Labels" in docker.list_containers("podman", "production").argv[-1]


def test_remove_containers_skips_missing(engine):
    result = LocalExecutor().run(docker.remove_containers(str(engine), "a", "b"))
    assert result.ok and calls(engine) == ["container inspect a", "container inspect b"]
    (engine.parent / "exists").touch()
    assert LocalExecutor().run(docker.remove_containers(str(engine), "a")).ok
    assert calls(engine)[-1] == "rm -f a"


def test_parse_containers_and_started():
    text = f"{NAME}\trunning\t{RUN['release']}\tsha256:0a1b\tUp 3 minutes\nnoise\n"
    assert docker.parse_containers(text) == [
        docker.ContainerInfo(NAME, "running", RUN["release"], "sha256:0a1b", "Up 3 minutes")]
    assert docker.parse_started("port=20001\ncontainer=abc\n") == (20001, "abc")
    with pytest.raises(OtterError):
        docker.parse_started("oops")


def test_render_env_file_validates_and_marks_secrets():
    assert render_env_file({"A": "1", "B": 2}) == "A=1\nB=2\n"
    assert type(render_env_file({"A": "1"})) is str
    text = render_env_file({"A": Secret("A", "s=3 x")})
    assert isinstance(text, SecretText) and text == "A=s=3 x\n"
    with pytest.raises(OtterfileError, match="env/1A"):
        render_env_file({"1A": "x"})
    with pytest.raises(OtterfileError, match="newline") as info:
        render_env_file({"A": Secret("A", f"{SECRET}\nX=1")})
    assert SECRET not in str(info.value)
    with pytest.raises(OtterfileError):
        render_env_file({"A": None})


def test_write_file_atomic_with_mode(tmp_path):
    target = tmp_path / "deep" / "f.env"
    command = write_file(str(target), SecretText(f"K={SECRET}\n"), mode=0o600)
    assert SECRET not in command.display() and SECRET not in " ".join(command.argv_values())
    assert LocalExecutor().run(command).ok
    assert target.read_text() == f"K={SECRET}\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(target.parent) == ["f.env"]
    assert LocalExecutor().run(remove_file(str(target))).ok and not target.exists()
    assert LocalExecutor().run(remove_file(str(target))).ok

"""Container engine command builders (docker and podman): exact argv, and the start,
status and remove scripts run for real with a fake engine."""
from __future__ import annotations

import os
import shutil
import socket
import stat
from dataclasses import replace

import pytest

from otterfile.command import SecretText
from otterfile.commands import container as docker
from otterfile.commands.files import remove_file, render_env_file, write_file
from otterfile.errors import OtterError, OtterfileError
from otterfile.executors.local import LocalExecutor
from otterfile.values import EXIT_NO_PORT, Instance, InstanceStatus
from otterfile.secrets import Secret
from tests.fakes import executable

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
    executable(path, FAKE_ENGINE)
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


OPTIONS = ("--name", NAME, "--label", "otter.deployment=production",
           "--label", f"otter.release={RUN['release']}", "--label", "otter.digest=sha256:0a1b",
           "--restart", "unless-stopped")


def test_run_options_and_the_shown_run_line_exact():
    assert tuple(docker.run_options(env_file="/var/lib/otter/p/env/r.env",
                                    volumes=["/data:/data:ro"], options=["--memory 512m"],
                                    **RUN)) == (
        *OPTIONS, "--env-file", "/var/lib/otter/p/env/r.env", "-v", "/data:/data:ro",
        "--memory", "512m")
    command = docker.start_release("podman", image="myapp", container_port=3000,
                                   env="A=1\n", env_file="/var/lib/otter/p/env/r.env",
                                   volumes=["/data:/data:ro"], options=["--memory 512m"],
                                   command="./serve --port 3000", **RUN)
    assert command.argv[3:] == (
        "sh", "podman", "3000", "20000", "29999", "5", "/var/lib/otter/p/env/r.env", NAME,
        "1", "", "", *OPTIONS, "--env-file", "/var/lib/otter/p/env/r.env", "-v", "/data:/data:ro",
        "--memory", "512m", "myapp", "./serve", "--port", "3000")
    assert command.description == (
        f"start {NAME}: podman run -d -p '127.0.0.1:<port>:3000' --init --name {NAME} "
        f"--label otter.deployment=production --label otter.release={RUN['release']} "
        "--label otter.digest=sha256:0a1b --restart unless-stopped "
        "--env-file /var/lib/otter/p/env/r.env -v /data:/data:ro --memory 512m myapp "
        "./serve --port 3000")
    assert command.file == "/var/lib/otter/p/env/r.env"
    without_env = docker.start_release("docker", image="myapp", container_port=3000, **RUN)
    assert "--env-file" not in without_env.argv and without_env.argv[9] == ""
    no_init = docker.start_release("docker", image="myapp", container_port=3000, init=False,
                                   **RUN)
    assert no_init.argv[11] == "0" and "--init" not in no_init.description
    assert without_env.file is None and without_env.stdin is None
    with pytest.raises(OtterError, match="env_file"):
        docker.start_release("docker", image="myapp", container_port=3000, env="A=1\n", **RUN)


def test_start_release_argv_and_secret_only_in_stdin(tmp_path):
    env = render_env_file({"NODE_ENV": "production", "DB_PASSWORD": Secret("DB", SECRET)})
    command = docker.start_release("docker", image="sha256:0a1b", container_port=3000,
                                   env=env, env_file="/s/env/r.env", command=["a b"], **RUN)
    assert command.argv[:2] == ("sh", "-c")
    assert command.argv[3:] == (
        "sh", "docker", "3000", "20000", "29999", "5", "/s/env/r.env", NAME, "1", "", "", "--name",
        NAME,
        "--label", "otter.deployment=production", "--label", f"otter.release={RUN['release']}",
        "--label", "otter.digest=sha256:0a1b", "--restart", "unless-stopped",
        "--env-file", "/s/env/r.env", "sha256:0a1b", "a b")
    assert all(SECRET not in arg for arg in command.argv_values())
    assert SECRET not in command.display() and "(secret)" in command.display()
    assert SECRET not in repr(command) and command.secret
    assert SECRET not in command.description and "docker run -d" in command.description
    assert command.stdin_bytes() == f"NODE_ENV=production\nDB_PASSWORD={SECRET}\n".encode()


def test_start_runs_beside_skipping_a_listening_port(engine, tmp_path):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        low = busy.getsockname()[1]
        env = SecretText(f"A={SECRET}\n")
        result = LocalExecutor().run(start(engine, tmp_path, (low, low + 20), env=env))
    assert result.exited == 0, result.stderr
    port = docker.parse_started(result.stdout)
    assert low < port <= low + 20 and "container=cid1" in result.stdout.splitlines()
    env_file = tmp_path / "state" / "env" / "r1.env"
    assert env_file.read_text() == f"A={SECRET}\n"
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600
    assert calls(engine) == [f"run -d -p 127.0.0.1:{port}:3000 --init --name {NAME} "
                             f"--label otter.deployment=production --label otter.release="
                             f"{RUN['release']} --label otter.digest=sha256:0a1b --restart "
                             f"unless-stopped --env-file {env_file} sha256:0a1b"]


def test_start_retries_the_next_port_on_a_bind_clash(engine, tmp_path):
    (engine.parent / "modes").write_text("clash\ninuse\nok\n")
    low = free_port()
    result = LocalExecutor().run(start(engine, tmp_path, (low, low + 50)))
    assert result.exited == 0, result.stderr
    port = docker.parse_started(result.stdout)
    assert port >= low + 2 and "container=cid3" in result.stdout.splitlines()
    removed = [c for c in calls(engine) if c.startswith("rm")]
    assert removed == [f"rm -f {NAME}"] * 2
    assert "--env-file" not in calls(engine)[-1]


def test_start_gives_up_after_its_tries_with_exit_4(engine, tmp_path):
    (engine.parent / "modes").write_text("clash\n" * 10)
    low = free_port()
    result = LocalExecutor().run(start(engine, tmp_path, (low, low + 50), tries=3))
    assert result.exited == EXIT_NO_PORT
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
    assert docker.parse_started(result.stdout) != low


def test_container_status_reports_state_and_logs(engine):
    (engine.parent / "exists").touch()
    command = docker.container_status(str(engine), NAME, log_lines=7)
    result = LocalExecutor().run(command)
    assert result.ok
    status = docker.parse_status(result.stdout)
    assert status == InstanceStatus("exited", 137, 2, True, "line one\nboom")
    assert not status.alive
    assert f"logs --tail 7 {NAME}" in calls(engine)


def test_container_status_missing(engine):
    result = LocalExecutor().run(docker.container_status(str(engine), NAME))
    assert result.exited == docker.EXIT_MISSING and result.ok
    assert docker.parse_status(result.stdout) == InstanceStatus("missing")
    assert docker.parse_status("running 0 0 false\n").alive


def test_stop_logs_prune_list_argv():
    assert docker.stop_container("docker", NAME).argv == ("docker", "stop", "-t", "10", NAME)
    drained = docker.stop_container("docker", NAME, drain_seconds=5, timeout=20)
    assert drained.argv[3:] == ("sh", "5", "docker", "20", NAME)
    assert docker.logs("docker", NAME, follow=True, tail=50).argv == (
        "docker", "logs", "-f", "--tail", "50", NAME)
    assert docker.logs("podman", NAME).argv == ("podman", "logs", "--tail", "100", NAME)
    prune = docker.prune_images("docker", ["sha256:a", "sha256:b", "a", "sha256:c"],
                                ["b", "sha256:c"])
    assert prune.argv[3:] == ("sh", "docker", "a")  # bare ids: what podman takes too
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
    text = (f"{NAME}\trunning\t{RUN['release']}\tsha256:0a1b\tUp 3 minutes\nnoise\n"
            "otter-production-r0\texited\tr0\tsha256:0a0a\tExited (0) 1 hour ago\n")
    assert docker.parse_containers(text) == [
        Instance(NAME, True, RUN["release"], "sha256:0a1b", "Up 3 minutes"),
        Instance("otter-production-r0", False, "r0", "sha256:0a0a", "Exited (0) 1 hour ago")]
    assert docker.parse_started("port=20001\ncontainer=abc\n") == 20001
    assert docker.parse_started("port=<port>\n") == "<port>"  # as a plan shows it
    with pytest.raises(OtterError):
        docker.parse_started("oops")
    with pytest.raises(OtterError):
        docker.parse_started("port=abc\n")


def test_probe_and_load_argv():
    probe = docker.probe("podman", "sha256:ab", "app:1")
    assert probe.argv[:3] == ("sh", "-c", docker.PROBE_SCRIPT)
    assert probe.argv[3:] == ("sh", "podman", "ab", "app:1")  # bare id: podman prints hex
    assert docker.probe("docker", "sha256:ab", None).argv[3:] == ("sh", "docker", "ab", "")
    assert docker.load("docker").argv == ("docker", "load")
    assert docker.load("podman").argv == ("podman", "load")
    assert docker.bare_id("sha256:ab") == "ab" and docker.bare_id("ab") == "ab"


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

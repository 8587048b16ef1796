"""`otter maintenance`: its errors exit 2 before any host is reached, and each target's
outcome is one row (a failed target exits 1, naming the host and what to do)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.errors import OtterError
from otterfile.executors.recording import RecordingExecutor
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load
from otterfile.proxies.maintenance import EXIT_NOT_INCLUDED, Page
from otterfile.run import maintenance

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app:1 .")

@runtime
def box():
    return docker(port=8080)

@target("server-a")
def server_a():
    return ssh("deploy@server-a.example:2222")

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=["server-a"], domains=["app.test"],
                      proxy=nginx())
'''


def invoke(path, *args):
    return CliRunner().invoke(main, ["-f", str(path), *args])


def test_an_unknown_deployment_is_a_usage_error(otterfile):
    result = invoke(otterfile(FILE), "maintenance", "staging", "on")
    assert result.exit_code == 2
    assert "unknown deployment 'staging'; known: production" in result.output


def test_a_bad_verb_is_a_usage_error(otterfile):
    result = invoke(otterfile(FILE), "maintenance", "production", "onn")
    assert result.exit_code == 2
    assert "'onn' is not one of 'on', 'off'" in result.output


@pytest.mark.parametrize("args, said", [
    (["off", "--message", "x"], "--message goes with `on` only"),
    (["on", "--message", " "], "--message: empty"),
    (["on", "--retry-after", "0"], "--retry-after: expected 1 to 86400 seconds"),
])
def test_bad_options_exit_2_naming_the_option(otterfile, args, said):
    result = invoke(otterfile(FILE), "maintenance", "production", *args)
    assert result.exit_code == 2 and said in result.output


def deployment(otterfile):
    return evaluate(load(str(otterfile(FILE)))).deployments["production"]


def test_on_writes_a_snippet_per_proxy_kind_and_reloads_the_deployments_proxy(otterfile):
    dep = deployment(otterfile)
    command = maintenance.toggle(dep, Page("back at 5", 60))
    argv = command.argv[4:]
    assert argv[:3] == ("/var/lib/otter/production/maintenance", "on",
                        "/etc/nginx/conf.d/otter-production.conf")
    assert argv[3] == "nginx -t -q" and argv[4] == "nginx"
    stdin = str(command.stdin)
    assert stdin.startswith("--- otter:part message\nback at 5\n")
    assert "--- otter:part caddy\n" in stdin and "--- otter:part nginx\n" in stdin
    off = maintenance.toggle(dep, None)
    assert off.argv[5] == "off" and off.stdin is None


def scripted(dep, exited):
    def matches(prefix):
        return lambda command: command.description.startswith(prefix)
    return RecordingExecutor(dep.hosts[0], {
        matches("lock "): "status=acquired\n", matches("unlock "): "status=released\n",
        matches("maintenance "): exited})


@pytest.mark.parametrize("exited, said", [
    (EXIT_NOT_INCLUDED, "server-a: the nginx site of production does not pull the "
                        "maintenance page in \\(an older otter wrote it\\); nothing changed"),
    (4, "server-a: nginx rejected the config with the maintenance page; nothing changed"),
    (5, "server-a: nginx did not reload; the previous state is back"),
])
def test_a_failure_names_the_host_and_the_lock_is_given_back(otterfile, exited, said):
    dep = deployment(otterfile)
    executor = scripted(dep, exited)
    with pytest.raises(OtterError, match=said):
        maintenance.switch(dep, executor, Page())
    steps = [c.description.split(":")[0] for c in executor.commands]
    assert steps == ["lock production", "maintenance on for production", "unlock production"]


def test_a_site_an_older_otter_wrote_is_written_anew_first(otterfile, tmp_path):
    from tests.unit.run.test_target import listed, recorded, release
    dep = deployment(otterfile)
    live = release("20240101T000000-cdcdcdcd", "sha256:" + "a" * 64, "live", 20000, None)
    read = recorded(releases=[live], live=live["id"], instances=[listed(live)], port=20000,
                    proxy="nginx")
    toggles: list = []

    def first_toggle(command):  # the first answers: the site does not pull the page in
        toggles.append(command) if command.description.startswith("maintenance ") else None
        return command.description.startswith("maintenance ") and len(toggles) == 1

    def matches(prefix):
        return lambda command: command.description.startswith(prefix)
    executor = RecordingExecutor(dep.hosts[0], {
        matches("lock "): "status=acquired\n", matches("unlock "): "status=released\n",
        matches("read state"): read, first_toggle: EXIT_NOT_INCLUDED,
        matches("maintenance "): "maintenance on (reloaded nginx)\n"})
    assert maintenance.switch(dep, executor, Page(), folder=tmp_path) == \
        "maintenance on (reloaded nginx)"
    steps = [c.description.split(":")[0] for c in executor.commands]
    assert steps == ["lock production", "maintenance on for production",
                     "read state of production", "switch nginx to production's new release",
                     "maintenance on for production", "unlock production"]
    switched = executor.commands[3]
    assert "include /var/lib/otter/production/maintenance/nginx*;" in str(switched.stdin)
    assert switched.argv[-1] == "20000"  # the port it serves now: no release touched


def test_off_under_the_lock(otterfile):
    dep = deployment(otterfile)
    executor = scripted(dep, "maintenance off (reloaded nginx)\n")
    assert maintenance.switch(dep, executor, None) == "maintenance off (reloaded nginx)"


def test_json_says_each_targets_outcome(otterfile, monkeypatch):
    from otterfile.run import maintenance as runs
    monkeypatch.setattr(runs, "switch", lambda dep, executor, page, **_: "maintenance on "
                        f"(reloaded nginx; {page.message}; {page.retry_after})")
    result = invoke(otterfile(FILE), "--json", "maintenance", "production", "on",
                    "--message", "back at 5", "--retry-after", "60")
    assert result.exit_code == 0, result.output
    import json
    assert json.loads(result.output) == {
        "v": 1, "event": "maintenance", "mode": "on", "host": "server-a",
        "deployment": "production", "result": "maintenance on (reloaded nginx; back at 5; 60)"}


def test_the_commands_retry_after_default_is_the_pages():
    """cli/maintenance.py names the default itself (it imports no proxy kind for --help)."""
    from otterfile.cli.maintenance import DEFAULT_RETRY, maintenance
    from otterfile.proxies.maintenance import DEFAULT_RETRY as PAGE_DEFAULT
    retry = next(p for p in maintenance.params if p.name == "retry_after")
    assert DEFAULT_RETRY == PAGE_DEFAULT == retry.default

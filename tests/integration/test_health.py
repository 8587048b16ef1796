"""The health gate on a real host, where the unit tests use a fake prober: `expect_status`
decides (200 refused when 204 is expected, a 404 accepted when 404 is expected), and without
a health check any answer below 500 on `/` is healthy while a 500 is refused, and with
`min_ready_seconds` a release that answers healthy and then exits is refused; the live
release answering all along."""
from __future__ import annotations

import re

import pytest

from tests.integration.deploy import on, otter, served, write_app, write_otterfile

pytestmark = pytest.mark.integration

GIVEN = 'health_check=HealthCheck(path="/health", timeout_seconds=8)'
# `/` of a folder without index.html: busybox httpd runs cgi-bin/index.cgi if there is one
FAILING_ROOT = """#!/bin/busybox sh
printf 'HTTP/1.0 500 Internal Server Error\\r\\nContent-Type: text/plain\\r\\n\\r\\nbroken\\n'
"""


def with_health(project, check: str) -> None:
    path = project / "Otterfile.py"
    text = path.read_text()
    assert GIVEN in text
    path.write_text(text.replace(GIVEN, check))


def containers(target) -> list[str]:
    listed = on(target, "docker", "ps", "-a", "--format", "{{.Names}}").stdout.split()
    return [name for name in listed if name.startswith("otter-production-")]


def test_expect_status_decides(tmp_path, clean_target):
    one = [clean_target]
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, one)
    assert otter(tmp_path, "run", "production").returncode == 0
    live = containers(clean_target)

    write_app(tmp_path / "app", "v2")  # /health answers 200, and 204 is what counts
    with_health(tmp_path, 'health_check=HealthCheck(path="/health", expect_status=204, '
                          'timeout_seconds=5)')
    refused = otter(tmp_path, "run", "production")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "GET /health answered 200, expected 204" in refused.stdout, refused.stdout
    assert served(clean_target) == "200 v1" and containers(clean_target) == live

    write_otterfile(tmp_path, one)  # a path that is missing, and a 404 is what counts
    with_health(tmp_path, 'health_check=HealthCheck(path="/nope", expect_status=404, '
                          'timeout_seconds=20)')
    done = otter(tmp_path, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "GET /nope answered 404" in done.stdout, done.stdout
    assert served(clean_target) == "200 v2" and len(containers(clean_target)) == 1


def test_without_a_health_check_any_answer_below_500_on_root_is_healthy(tmp_path,
                                                                       clean_target):
    one = [clean_target]
    app = write_app(tmp_path / "app", "v1")
    (app / "www" / "index.html").unlink()  # `/` answers 404: below 500, healthy
    write_otterfile(tmp_path, one)
    with_health(tmp_path, "health_check=None")
    first = otter(tmp_path, "run", "production")
    assert first.returncode == 0, first.stdout + first.stderr
    assert "GET / answered 404" in first.stdout, first.stdout
    assert served(clean_target).startswith("404 ")
    live = containers(clean_target)

    write_app(tmp_path / "app", "v2")
    (app / "www" / "index.html").unlink()
    (app / "www" / "cgi-bin" / "index.cgi").write_text(FAILING_ROOT)
    (app / "www" / "cgi-bin" / "index.cgi").chmod(0o755)
    refused = otter(tmp_path, "run", "production")  # `/` answers 500 for its 30 s
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "GET / answered 500, expected below 500" in refused.stdout, refused.stdout
    assert "not healthy after 30s" in refused.stdout
    assert served(clean_target).startswith("404 ") and containers(clean_target) == live


def test_a_release_that_exits_within_min_ready_seconds_is_refused(tmp_path, clean_target):
    one = [clean_target]
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, one)
    assert otter(tmp_path, "run", "production").returncode == 0
    live = containers(clean_target)

    write_app(tmp_path / "app", "v2", exit_after=2)  # healthy at once, exits 2 s after
    with_health(tmp_path, 'health_check=HealthCheck(path="/health", timeout_seconds=8, '
                          'min_ready_seconds=5)')
    refused = otter(tmp_path, "run", "production")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    # seen gone (a refused GET) or back under docker's restart policy (its restart count)
    assert re.search(r"(exited|restarting)\b.* \d+\.\ds after it was "
                     r"first healthy \(min_ready_seconds=5\)", refused.stdout), refused.stdout
    assert "app v2 exits on purpose" in refused.stdout  # its last log lines
    assert served(clean_target) == "200 v1" and containers(clean_target) == live

    write_app(tmp_path / "app", "v3")  # steady: watched 2 s, then switched
    write_otterfile(tmp_path, one)
    with_health(tmp_path, 'health_check=HealthCheck(path="/health", timeout_seconds=8, '
                          'min_ready_seconds=2)')
    done = otter(tmp_path, "run", "production")
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"GET /health answered 200 after \d+ poll\(s\), then stayed healthy "
                     r"for 2\.\ds", done.stdout), done.stdout
    assert served(clean_target) == "200 v3" and len(containers(clean_target)) == 1

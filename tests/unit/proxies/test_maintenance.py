"""Maintenance mode's page and snippets: a hostile message escaped for HTML, Caddy and nginx;
each site pulling the page in; the snippets accepted by this machine's caddy and nginx
(their config adapted or tested in a temporary folder); the round trip's arguments."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from otterfile.errors import UsageError
from otterfile.proxies import NAMED, caddy, nginx
from otterfile.proxies.maintenance import (DEFAULT_MESSAGE, Page, check_page, escape,
                                           folder, html, include_glob, parse_message)

pytestmark = pytest.mark.unit

HOSTILE = 'Back <b>soon</b> "now" {$HOME} {http.request.uri} $host \\n; } ü\nline two\x07'
FLAG = "/var/lib/otter/production/maintenance"


def test_escape_leaves_nothing_html_caddy_or_nginx_read():
    text = escape(HOSTILE)
    assert text == ("Back &#60;b&#62;soon&#60;/b&#62; &#34;now&#34; &#123;&#36;HOME&#125; "
                    "&#123;http.request.uri&#125; &#36;host &#92;n; &#125; &#252;<br>line two")
    for char in '"<>{}$\\`\'\n\x07':
        assert char not in text.replace("<br>", "")


def test_page_is_plain_html_with_the_escaped_message():
    page = html(Page(HOSTILE))
    assert page.startswith("<!DOCTYPE html><html>") and page.endswith("</body></html>")
    assert escape(HOSTILE) in page and '"' not in page and "\n" not in page


def test_check_page_names_the_option():
    assert check_page(None, 300) == Page(DEFAULT_MESSAGE, 300)
    assert check_page("  back at 5  ", 60) == Page("back at 5", 60)
    with pytest.raises(UsageError, match="--message: empty"):
        check_page("  ", 300)
    with pytest.raises(UsageError, match="--message: 1001 characters, at most 1000"):
        check_page("x" * 1001, 300)
    with pytest.raises(UsageError, match="--retry-after: expected 1 to 86400"):
        check_page("x", 0)


def test_sites_of_both_proxies_pull_the_page_in():
    up = "/var/lib/otter/production/upstream"
    for per_request in (up, None):
        site = caddy.render_site("production", ["app.test"], 8000, None, "off",
                                 upstream_dir=per_request)
        assert f"\timport {FLAG}/caddy*\n" in site
        # before the site's own handles: Caddy keeps handles with matchers in file order
        assert site.index("import ") < site.index("reverse_proxy")
        site = nginx.render_site("production", ["app.test"], 8000, None, upstream_dir=per_request)
        assert f"\tinclude {FLAG}/nginx*;\n" in site
        assert site.index("include ") < site.index("location /")
    assert include_glob("production", "caddy") == f"{FLAG}/caddy*" == \
        f"{folder('production')}/caddy*"


def test_snippets_answer_503_with_retry_after_and_the_page():
    page = Page(HOSTILE, 120)
    text = caddy.PROXY.maintenance("production", page)
    assert "@otter_maintenance path *\nhandle @otter_maintenance {\n" in text
    assert "\theader Retry-After 120\n" in text
    assert f'\trespond "{html(page)}" 503\n' in text
    text = nginx.PROXY.maintenance("production", page)
    assert "add_header Retry-After 120 always;\n" in text
    assert f'return 503 "{html(page)}";\n' in text
    assert "default_type text/html;\n" in text


@pytest.mark.skipif(not shutil.which("caddy"), reason="no caddy binary on this machine")
def test_caddy_adapts_the_site_with_the_page_first(tmp_path):
    flag = tmp_path / "maintenance"
    flag.mkdir()
    (flag / "caddy").write_text(caddy.PROXY.maintenance("production", Page(HOSTILE, 120)))
    site = caddy.render_site("production", ["app.test"], 8000, None, "off",
                             upstream_dir=str(tmp_path / "upstream"))
    config = tmp_path / "Caddyfile"
    config.write_text(site.replace(FLAG, str(flag)))
    done = subprocess.run(["caddy", "adapt", "--config", str(config), "--adapter",
                           "caddyfile"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    server = json.loads(done.stdout)["apps"]["http"]["servers"]["srv0"]
    routes = [json.dumps(r) for r in server["routes"][0]["handle"][0]["routes"]]
    page = [i for i, r in enumerate(routes) if '"status_code": 503' in r]
    proxied = [i for i, r in enumerate(routes) if '"reverse_proxy"' in r]
    assert page and proxied and page[0] < proxied[0], routes  # the page wins
    assert '"Retry-After": ["120"]' in routes[page[0]]
    assert json.dumps(escape(HOSTILE))[1:-1] in routes[page[0]]
    (flag / "caddy").unlink()  # off: the glob matches nothing, the site proxies again
    done = subprocess.run(["caddy", "adapt", "--config", str(config), "--adapter",
                           "caddyfile"], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    # no 503 route (the config's temp paths may hold "503" themselves)
    assert '"status_code": 503' not in json.dumps(json.loads(done.stdout))


@pytest.mark.skipif(not shutil.which("nginx"), reason="no nginx binary on this machine")
def test_nginx_accepts_the_site_with_and_without_the_page(tmp_path):
    flag = tmp_path / "maintenance"
    flag.mkdir()
    site = nginx.render_site("production", ["app.test"], 8000, None)
    (tmp_path / "site.conf").write_text(site.replace(FLAG, str(flag)))
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid; error_log {tmp_path}/error.log;\n"
        "events {}\n"
        f"http {{ access_log off; client_body_temp_path {tmp_path}; "
        f"include {tmp_path}/site.conf; }}\n")
    test = ["nginx", "-t", "-q", "-p", str(tmp_path), "-c", str(tmp_path / "nginx.conf")]
    for on in (True, False):
        if on:
            (flag / "nginx").write_text(nginx.PROXY.maintenance("production",
                                                                Page(HOSTILE, 120)))
        else:
            (flag / "nginx").unlink()
        done = subprocess.run(test, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr


def test_every_proxy_kind_has_a_snippet():
    for kind in NAMED.values():
        assert "503" in kind.maintenance("production", Page())


def test_parse_message():
    assert parse_message(None) is None
    assert parse_message("back at 5\n") == "back at 5"
    assert parse_message("") == DEFAULT_MESSAGE


def run_script(tmp_path, mode, *, check="true", included=True, stdin=None, active=False):
    """scripts/maintenance.sh run here on a temporary flag folder, with a fake systemctl
    that logs its calls (running when `active`)."""
    import os
    from otterfile.scripts import load
    from tests.fakes import executable
    bin_ = tmp_path / "bin"
    bin_.mkdir(exist_ok=True)
    executable(bin_ / "systemctl", f'#!/bin/sh\necho "$*" >> {tmp_path}/calls\n'
               f'[ "$1" != is-active ] || exit {0 if active else 3}\n')
    flag = tmp_path / "state" / "maintenance"
    site = tmp_path / "site.conf"
    site.write_text(f"include {flag}/nginx*;\n" if included else "server {}\n")
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}"}
    return flag, subprocess.run(["sh", "-c", load("reload.sh") + load("maintenance.sh"), "sh", str(flag), mode,
                                 str(site), check, "nginx"], input=stdin, text=True,
                                capture_output=True, env=env)


ON = "--- otter:part message\nback at 5\n--- otter:part nginx\nreturn 503;\n"


def test_script_writes_and_removes_the_flag_and_reloads_a_running_proxy(tmp_path):
    flag, done = run_script(tmp_path, "on", stdin=ON, active=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "maintenance on (reloaded nginx)\n"
    assert (flag / "message").read_text() == "back at 5\n"
    assert (flag / "nginx").read_text() == "return 503;\n"
    assert sorted(p.name for p in flag.parent.iterdir()) == ["maintenance"]  # no backup
    flag, done = run_script(tmp_path, "off")
    assert done.returncode == 0 and not flag.exists(), done.stderr
    assert done.stdout == "maintenance off (no reload: nginx is not running)\n"
    assert (tmp_path / "calls").read_text().splitlines() == [
        "is-active --quiet nginx", "reload nginx", "is-active --quiet nginx"]


@pytest.mark.parametrize("what, exited", [("rejected", 4), ("not included", 6)])
def test_script_puts_the_previous_flag_back_on_failure(tmp_path, what, exited):
    flag, done = run_script(tmp_path, "on", stdin=ON)
    assert done.returncode == 0, done.stderr
    changed = "--- otter:part message\nother\n--- otter:part nginx\nbroken\n"
    flag, done = run_script(tmp_path, "on", stdin=changed, included=what != "not included",
                            check="echo 'nginx: bad' >&2; exit 1" if what == "rejected"
                            else "true")
    assert done.returncode == exited, done.stderr
    assert (flag / "message").read_text() == "back at 5\n"
    assert sorted(p.name for p in flag.parent.iterdir()) == ["maintenance"]

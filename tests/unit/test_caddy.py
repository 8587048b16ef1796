"""Caddy site rendering, and the switch script run for real against this machine's caddy
binary with a temporary Caddyfile and a fake systemctl (the machine's /etc/caddy untouched)."""
from __future__ import annotations

import os
import shutil
from dataclasses import replace

from pathlib import Path

import pytest

from otterfile import model
from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor
from otterfile.proxies import KINDS, Site, caddy, proxy_for
from otterfile.render import render
from otterfile.validate import FieldError
from tests.fakes import executable

pytestmark = pytest.mark.unit

HEADER = ('# Managed by otter for deployment "production": otter owns this file and rewrites\n'
          "# it on every switch, so edits here are lost. The main Caddyfile imports it.\n")
MAIN = ':8080 {\n\trespond "main site"\n}'  # no trailing newline on purpose
TOOLS = ["sh", "mktemp", "awk", "cat", "cp", "mv", "rm", "mkdir", "tail", "grep", "flock",
         "sed", "dirname"]

# Records its argv; `is-active` answers from $d/active, `reload`/`start` fail if $d/fail.
FAKE_SYSTEMCTL = r"""#!/bin/sh
d=$(dirname "$0")
echo "$*" >> "$d/systemctl.calls"
case "$1" in
  is-active) [ -f "$d/active" ] ;;
  reload|start) if [ -f "$d/fail" ]; then echo "Job for caddy.service failed." >&2; exit 1; fi ;;
esac
"""

needs_caddy = pytest.mark.skipif(shutil.which("caddy") is None, reason="no caddy binary")


def site(port=20001, domains=("myapp.test",), tls="off") -> str:
    return caddy.render_site("production", list(domains), port, 3000, tls)


def test_render_site_each_tls_mode():
    assert caddy.render_site("production", ["myapp.com", "www.myapp.com"], 20001, None,
                             "auto") == (HEADER + "myapp.com, www.myapp.com {\n"
                                         "\treverse_proxy 127.0.0.1:20001\n}\n")
    assert caddy.render_site("production", ["myapp.com"], 20001, None, "internal") == (
        HEADER + "myapp.com {\n\ttls internal\n\treverse_proxy 127.0.0.1:20001\n}\n")
    assert caddy.render_site("production", ["a.com", "b.com"], 20001, None, "off") == (
        HEADER + "http://a.com, http://b.com {\n\treverse_proxy 127.0.0.1:20001\n}\n")
    assert caddy.render_site("production", [], 20001, 3000, "auto") == (
        HEADER + ":3000 {\n\treverse_proxy 127.0.0.1:20001\n}\n")


def test_render_site_accepts_the_plan_placeholder_port():
    assert caddy.render_site("production", ["myapp.com"], "<port>", None, "auto") == (
        HEADER + "myapp.com {\n\treverse_proxy 127.0.0.1:<port>\n}\n")


@pytest.mark.parametrize("args", [
    (["my app.com"], 1, None, "auto"), (["a.com {\n}"], 1, None, "auto"),
    (["a.com"], 0, None, "auto"), (["a.com"], 1, None, "on"), ([], 1, None, "auto"),
    (["a.com"], "80", None, "auto"), (["a.com"], "port", None, "auto")])
def test_render_site_rejects_bad_values(args):
    with pytest.raises(OtterError):
        caddy.render_site("production", *args)


def test_the_caddy_proxy_object():
    assert KINDS[model.Caddy] is caddy.PROXY and proxy_for(model.caddy()) is caddy.PROXY
    value = model.caddy(tls="off")
    assert caddy.PROXY.check(value) is value and caddy.PROXY.unsupported(value) is None
    with pytest.raises(FieldError) as info:
        caddy.PROXY.check(model.caddy(tls="on"))
    assert info.value.path == "tls"
    text = caddy.PROXY.render(value, Site("production", ("myapp.test",), 20001, 3000))
    assert text == site(20001) and caddy.PROXY.served_port(text) == 20001
    planned = caddy.PROXY.render(value, Site("production", (), "<port>", 3000))
    assert caddy.PROXY.served_port(planned) is None
    assert caddy.PROXY.site_path("production") == "/etc/caddy/otter.d/production.caddy"
    assert caddy.PROXY.switch(value, Site("production", (), 1, 3000), "x\n", Path(".")) == \
        caddy.switch("production", "x\n", listen_port=3000)
    assert caddy.PROXY.remove("production") == caddy.remove_site("production")
    assert "server-a" in caddy.PROXY.missing_message("server-a")


def test_template_errors_name_template_and_line(tmp_path):
    (tmp_path / "t.j2").write_text("line one\n{{ defined }}\n{{ missing }}\n")
    with pytest.raises(OtterError, match=r"template t\.j2:3: 'missing' is undefined"):
        render("t.j2", folder=tmp_path, defined=1)
    (tmp_path / "bad.j2").write_text("ok\n{% if %}\n")
    with pytest.raises(OtterError, match=r"template bad\.j2:2: "):
        render("bad.j2", folder=tmp_path)


def test_switch_command_shape():
    command = caddy.switch("production", "content\n")
    assert command.argv[3:] == ("sh", "/etc/caddy", "production")
    assert command.stdin == "content\n"
    assert caddy.remove_site("production").argv[3:] == ("sh", "/etc/caddy", "production")


@pytest.fixture
def host(tmp_path):
    """A temp caddy folder, and a PATH with caddy, a fake systemctl and the basic tools."""
    folder = tmp_path / "etc-caddy"
    folder.mkdir()
    (folder / "Caddyfile").write_text(MAIN)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS + ["caddy"]:
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bin_dir / tool)
    executable(bin_dir / "systemctl", FAKE_SYSTEMCTL)
    return folder, bin_dir


def run(host, command):
    folder, bin_dir = host
    return LocalExecutor().run(replace(command, env={"PATH": str(bin_dir),
                                                     "HOME": str(folder.parent)}))


def systemctl_calls(host) -> list[str]:
    file = host[1] / "systemctl.calls"
    return file.read_text().splitlines() if file.exists() else []


def leftovers(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder / "otter.d") if n != ".lock")


@needs_caddy
def test_switch_adds_import_once_and_reloads(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    first = run(host, caddy.switch("production", site(20001), str(folder)))
    assert first.exited == 0, first.stderr
    second = run(host, caddy.switch("production", site(20002), str(folder)))
    assert second.exited == 0, second.stderr
    line = f"import {folder}/otter.d/*.caddy"
    assert (folder / "Caddyfile").read_text() == f"{MAIN}\n{line}\n"
    assert (folder / "otter.d" / "production.caddy").read_text() == site(20002)
    assert leftovers(folder) == ["production.caddy"]
    assert systemctl_calls(host) == ["is-active --quiet caddy", "reload caddy"] * 2


@needs_caddy
def test_switch_starts_caddy_when_inactive_and_keeps_an_indented_import(host):
    folder, _ = host
    text = f"{MAIN}\n  import {folder}/otter.d/*.caddy  \n"
    (folder / "Caddyfile").write_text(text)
    result = run(host, caddy.switch("production", site(), str(folder)))
    assert result.exited == 0, result.stderr
    assert (folder / "Caddyfile").read_text() == text
    assert systemctl_calls(host)[-1] == "start caddy"


@needs_caddy
def test_invalid_config_restores_the_previous_site(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, caddy.switch("production", site(20001), str(folder))).ok
    result = run(host, caddy.switch("production", "myapp.test {\n\tbogus\n}\n", str(folder)))
    assert result.exited == caddy.EXIT_INVALID
    assert "rejected" in result.stderr and "unrecognized directive: bogus" in result.stderr
    assert (folder / "otter.d" / "production.caddy").read_text() == site(20001)
    assert leftovers(folder) == ["production.caddy"]
    assert systemctl_calls(host) == ["is-active --quiet caddy", "reload caddy"]


@needs_caddy
def test_invalid_first_config_leaves_no_trace(host):
    folder, _ = host
    # the same address as the main Caddyfile's site: Caddy calls it ambiguous
    content = caddy.render_site("production", [], 20001, 8080, "auto")
    result = run(host, caddy.switch("production", content, str(folder)))
    assert result.exited == caddy.EXIT_INVALID and "ambiguous" in result.stderr
    assert (folder / "Caddyfile").read_text() == MAIN
    assert leftovers(folder) == []
    assert systemctl_calls(host) == []


@needs_caddy
def test_failed_reload_restores_the_previous_site(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, caddy.switch("production", site(20001), str(folder))).ok
    (bin_dir / "fail").touch()
    result = run(host, caddy.switch("production", site(20002), str(folder)))
    assert result.exited == caddy.EXIT_RELOAD and "reload caddy failed" in result.stderr
    assert (folder / "otter.d" / "production.caddy").read_text() == site(20001)
    assert leftovers(folder) == ["production.caddy"]


def test_missing_caddy_exits_3_and_writes_nothing(host):
    folder, bin_dir = host
    if (bin_dir / "caddy").exists():
        (bin_dir / "caddy").unlink()
    result = run(host, caddy.switch("production", site(), str(folder)))
    assert result.exited == caddy.EXIT_NO_CADDY and "Caddy is not installed" in result.stderr
    assert (folder / "Caddyfile").read_text() == MAIN
    assert not (folder / "otter.d").exists()
    assert "server-a" in caddy.missing_caddy_message("server-a")


@needs_caddy
def test_remove_site_reloads_when_active(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, caddy.switch("production", site(), str(folder))).ok
    result = run(host, caddy.remove_site("production", str(folder)))
    assert result.ok and leftovers(folder) == []
    assert systemctl_calls(host)[-1] == "reload caddy"
    assert run(host, caddy.remove_site("production", str(folder))).ok


@needs_caddy
def test_validation_leaves_no_caddy_data_behind(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    result = run(host, caddy.switch("production", site(tls="internal"), str(folder)))
    assert result.exited == 0, result.stderr
    assert sorted(os.listdir(folder.parent)) == ["bin", "etc-caddy"]

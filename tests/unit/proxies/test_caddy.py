"""Caddy site rendering, and the switch script run for real against this machine's caddy
binary with a temporary Caddyfile and a fake systemctl (the machine's /etc/caddy untouched)."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace

from pathlib import Path

import pytest

from otterfile.load import model
from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor
from otterfile.proxies import KINDS, base, caddy, proxy_for
from otterfile.proxies.base import Site
from otterfile.render import render
from otterfile.load.validate import FieldError
from tests.fakes import executable
from tests.unit.proxies import test_nginx
from tests.unit.proxies.test_nginx import backends  # noqa: F401 (a fixture)

pytestmark = pytest.mark.unit

HEADER = ('# Managed by otter for deployment "production": otter owns this file and rewrites\n'
          "# it when the site changes, so edits here are lost. The main Caddyfile imports it.\n")
UP = "/var/lib/otter/production/upstream"
# every site pulls maintenance mode's page in (nothing while it is off)
PAGE = ("\t# `otter maintenance production on` puts the page here (nothing matches while off)\n"
        "\timport /var/lib/otter/production/maintenance/caddy*\n")
# the proxying, an idle connection to a release closed after 1 s (the old one's drain)
PROXIED = ("\treverse_proxy 127.0.0.1:{upstream} {{\n"
           "\t\t# an idle connection to a release closes after 1s: one left to the\n"
           "\t\t# release a switch replaced holds its drain no longer than that\n"
           "\t\ttransport http {{\n\t\t\tkeepalive 1s\n\t\t}}\n\t}}\n")
PER_REQUEST = (HEADER + "# The live release's port is the name of the one file in the folder "
               "below, read per\n"
               "# request: a new release is a rename there, no reload.\n"
               "myapp.com {\n" + PAGE +
               "\t# twice: a rename between the folder's listing and the file's check is found "
               "by the\n\t# second listing (once, about 1 switch in 40 failed a request at full "
               "speed)\n"
               "\t@otter_live file {\n"
               f"\t\troot {UP}\n"
               "\t\ttry_files [0-9]* [0-9]*\n"
               "\t}\n"
               "\tmap {file_match.relative} {otter_port} {\n"
               '\t\t~^/([0-9]+)$ "${1}"\n'
               "\t\tdefault 0\n"
               "\t}\n"
               "\thandle @otter_live {\n"
               "\t\treverse_proxy 127.0.0.1:{otter_port} {\n"
               "\t\t\t# an idle connection to a release closes after 1s: one left to\n"
               "\t\t\t# the release a switch replaced holds its drain no longer than that\n"
               "\t\t\ttransport http {\n\t\t\t\tkeepalive 1s\n\t\t\t}\n\t\t}\n"
               "\t}\n"
               "\thandle {\n"
               f'\t\trespond "otter: no live release of production here ({UP} holds no port file)\n'
               '" 502\n'
               "\t}\n"
               "}\n")
MAIN = ':8080 {\n\trespond "main site"\n}'  # no trailing newline on purpose
TOOLS = ["sh", "mktemp", "awk", "cat", "cp", "mv", "rm", "mkdir", "tail", "grep", "flock",
         "sed", "dirname", "cmp", "chmod"]

# Records its argv; `is-active` answers from $d/active, `reload`/`start` fail if $d/fail,
# and, as Caddy's own do, when the real caddy cannot load the folder's config.
FAKE_SYSTEMCTL = r"""#!/bin/sh
d=$(dirname "$0")
echo "$*" >> "$d/systemctl.calls"
case "$1" in
  is-active) [ -f "$d/active" ] ;;
  reload|start) if [ -f "$d/fail" ]; then echo "Job for caddy.service failed." >&2; exit 1; fi
    [ -x "$d/caddy" ] || exit 0
    v=$(mktemp -d)  # caddy's data (a CA for `tls internal`) not in the test's folders
    HOME=$v XDG_DATA_HOME=$v XDG_CONFIG_HOME=$v "$d/caddy" validate --adapter caddyfile \
      --config "$d/../etc-caddy/Caddyfile" >/dev/null 2>&1; ok=$?
    rm -rf "$v"
    [ "$ok" = 0 ] || { echo "Job for caddy.service failed (the config)." >&2; exit 1; } ;;
esac
"""

needs_caddy = pytest.mark.skipif(shutil.which("caddy") is None, reason="no caddy binary")


def site(port=20001, domains=("myapp.test",), tls="off") -> str:
    """A reload switch's site: it names the port."""
    return caddy.render_site("production", list(domains), port, 3000, tls)


def live_site(folder, domains=("myapp.test",), tls="off") -> str:
    """The default switch's site: it reads the port file of `upstream(folder)`."""
    return caddy.render_site("production", list(domains), "<port>", 3000, tls,
                             upstream_dir=str(upstream(folder)))


def upstream(folder) -> Path:
    return folder.parent / "state" / "production" / "upstream"


def switching(folder, content: str, port=20001, **options):
    """caddy.switch with the temp caddy folder and an upstream folder beside it."""
    return caddy.switch("production", content, str(folder), upstream_dir=str(upstream(folder)),
                        port=port, **options)


def port_files(folder) -> list[str]:
    return sorted(os.listdir(upstream(folder))) if upstream(folder).exists() else []


def test_render_site_each_tls_mode():
    assert caddy.render_site("production", ["myapp.com", "www.myapp.com"], 20001, None,
                             "auto") == (HEADER + "myapp.com, www.myapp.com {\n" + PAGE +
                                         PROXIED.format(upstream="20001") + "}\n")
    assert caddy.render_site("production", ["myapp.com"], 20001, None, "internal") == (
        HEADER + "myapp.com {\n\ttls internal\n" + PAGE + PROXIED.format(upstream="20001") + "}\n")
    assert caddy.render_site("production", ["a.com", "b.com"], 20001, None, "off") == (
        HEADER + "http://a.com, http://b.com {\n" + PAGE + PROXIED.format(upstream="20001") + "}\n")
    assert caddy.render_site("production", [], 20001, 3000, "auto") == (
        HEADER + ":3000 {\n" + PAGE + PROXIED.format(upstream="20001") + "}\n")


def test_render_site_accepts_the_plan_placeholder_port():
    assert caddy.render_site("production", ["myapp.com"], "<port>", None, "auto") == (
        HEADER + "myapp.com {\n" + PAGE + PROXIED.format(upstream="<port>") + "}\n")


def test_render_site_reading_the_port_file_names_no_port():
    text = caddy.render_site("production", ["myapp.com"], 20001, None, "auto", upstream_dir=UP)
    assert text == PER_REQUEST and "20001" not in text
    assert caddy.PROXY.served_port(text) is None
    no_domain = caddy.render_site("production", [], 1, 3000, "auto", upstream_dir=UP)
    assert no_domain.startswith(PER_REQUEST[:PER_REQUEST.index("myapp.com {")] + ":3000 {\n")


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
    reloads = Site("production", ("myapp.test",), 20001, 3000, per_request=False)
    text = caddy.PROXY.render(value, reloads)
    assert text == site(20001) and caddy.PROXY.served_port(text) == 20001
    reads = caddy.PROXY.render(value, Site("production", ("myapp.test",), 20001, 3000))
    assert f"root {UP}\n" in reads and caddy.PROXY.served_port(reads) is None
    planned = caddy.PROXY.render(value, Site("production", (), "<port>", 3000, False))
    assert caddy.PROXY.served_port(planned) is None
    assert caddy.PROXY.site_path("production") == "/etc/caddy/otter.d/production.caddy"
    assert caddy.PROXY.switch(value, Site("production", (), 1, 3000), "x\n", Path(".")) == \
        caddy.switch("production", "x\n", listen_port=3000, upstream_dir=UP, port=1)
    with pytest.raises(FieldError) as info:
        caddy.PROXY.check(model.caddy(switch="api"))
    assert info.value.path == "switch"
    assert caddy.PROXY.ensure(value).argv[4:] == ("caddy", "caddy", "", "caddy",
                                                  "apache2")  # no module, no other kinds
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
    command = caddy.switch("production", "content\n", upstream_dir=UP, port=20001)
    assert command.argv[3:] == ("sh", "/etc/caddy", "production", "", UP, "20001")
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
def test_switch_renames_the_port_file_and_reloads_only_when_the_site_changes(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    first = run(host, switching(folder, live_site(folder), 20001))
    assert first.exited == 0, first.stderr
    assert "switched production to 127.0.0.1:20001 (reload)" in first.stdout
    assert port_files(folder) == ["20001"] and (upstream(folder) / "20001").read_bytes() == b""
    assert systemctl_calls(host) == ["is-active --quiet caddy", "reload caddy"]
    second = run(host, switching(folder, live_site(folder), 20002))
    assert second.exited == 0, second.stderr
    assert "switched production to 127.0.0.1:20002 (no reload)" in second.stdout
    assert port_files(folder) == ["20002"] and leftovers(folder) == ["production.caddy"]
    assert systemctl_calls(host)[2:] == ["is-active --quiet caddy"]
    line = f"import {folder}/otter.d/*.caddy"
    assert (folder / "Caddyfile").read_text() == f"{MAIN}\n{line}\n"
    changed = run(host, switching(folder, live_site(folder, ("other.test",)), 20003))
    assert changed.exited == 0 and "(reload)" in changed.stdout
    assert port_files(folder) == ["20003"] and systemctl_calls(host)[-1] == "reload caddy"
    assert (folder / "otter.d" / "production.caddy").read_text() == \
        live_site(folder, ("other.test",))


@needs_caddy
def test_a_site_installed_early_has_no_port_file_and_spares_the_switch_its_reload(host):
    """A first deploy's site installed beside its start (port ""): loaded with no port
    file (it answers 502), then the switch is a rename; a site there already is left."""
    folder, bin_dir = host
    (bin_dir / "active").touch()
    site = Site("production", ("myapp.test",), 0, None)
    early = caddy.CaddyProxy().install_early(None, site, "text")
    assert early is not None and early.argv[-1] == "" and early.stdin == "text"
    assert caddy.CaddyProxy().install_early(None, replace(site, per_request=False), "") is None
    early = switching(folder, live_site(folder), "")
    first = run(host, early)
    assert first.exited == 0, first.stderr
    assert "installed the site of production, no release named yet (reload)" in first.stdout
    assert port_files(folder) == [] and leftovers(folder) == ["production.caddy"]
    assert systemctl_calls(host) == ["is-active --quiet caddy", "reload caddy"]
    switched = run(host, switching(folder, live_site(folder), 20001))
    assert "switched production to 127.0.0.1:20001 (no reload)" in switched.stdout
    assert port_files(folder) == ["20001"] and systemctl_calls(host)[2:] == \
        ["is-active --quiet caddy"]
    again = run(host, early)
    assert again.exited == 0 and "there already" in again.stdout
    assert port_files(folder) == ["20001"] and systemctl_calls(host)[3:] == []


@needs_caddy
def test_a_reload_switch_rewrites_the_site_each_time(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, site(20001), 20001)).ok
    assert run(host, switching(folder, site(20002), 20002)).ok
    assert (folder / "otter.d" / "production.caddy").read_text() == site(20002)
    assert port_files(folder) == ["20002"]  # written too: a later file switch finds it
    assert systemctl_calls(host) == ["is-active --quiet caddy", "reload caddy"] * 2


@needs_caddy
def test_the_port_file_stays_one_file_named_by_the_port(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    upstream(folder).mkdir(parents=True)
    for name in ("20005", "20009", "notes"):  # left by hand: the first is what is served
        (upstream(folder) / name).touch()
    result = run(host, switching(folder, live_site(folder), 20001))
    assert result.exited == 0, result.stderr
    assert port_files(folder) == ["20001", "notes"]
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    assert port_files(folder) == ["20001", "notes"]
    bad = run(host, switching(folder, live_site(folder), "20001; x"))
    assert bad.exited == 1 and "not a port" in bad.stderr and port_files(folder) == \
        ["20001", "notes"]


@needs_caddy
def test_switch_starts_a_stopped_caddy_and_keeps_an_indented_import(host):
    folder, _ = host
    text = f"{MAIN}\n  import {folder}/otter.d/*.caddy  \n"
    (folder / "Caddyfile").write_text(text)
    result = run(host, switching(folder, live_site(folder)))
    assert result.exited == 0, result.stderr
    assert (folder / "Caddyfile").read_text() == text
    assert systemctl_calls(host)[-1] == "start caddy"
    again = run(host, switching(folder, live_site(folder), 20002))  # unchanged site, stopped
    assert again.exited == 0 and "started caddy: it was not running" in again.stdout
    assert systemctl_calls(host)[-1] == "start caddy" and port_files(folder) == ["20002"]


@needs_caddy
def test_a_stopped_caddy_that_does_not_start_keeps_the_previous_port_file(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    (bin_dir / "active").unlink()
    (bin_dir / "fail").touch()
    result = run(host, switching(folder, live_site(folder), 20002))
    assert result.exited == base.EXIT_RELOAD and "start caddy failed" in result.stderr
    assert port_files(folder) == ["20001"] and leftovers(folder) == ["production.caddy"]


@needs_caddy
def test_invalid_config_restores_the_previous_site_and_port_file(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    result = run(host, switching(folder, "myapp.test {\n\tbogus\n}\n", 20002))
    assert result.exited == base.EXIT_INVALID
    assert "rejected" in result.stderr and "unrecognized directive: bogus" in result.stderr
    assert (folder / "otter.d" / "production.caddy").read_text() == live_site(folder)
    assert leftovers(folder) == ["production.caddy"] and port_files(folder) == ["20001"]
    # the first switch, then the second's reload that Caddy refused
    assert systemctl_calls(host) == ["is-active --quiet caddy", "reload caddy"] * 2


@needs_caddy
def test_invalid_first_config_leaves_no_trace(host):
    folder, _ = host
    # the same address as the main Caddyfile's site: Caddy calls it ambiguous
    content = caddy.render_site("production", [], 20001, 8080, "auto")
    result = run(host, switching(folder, content))
    assert result.exited == base.EXIT_INVALID and "ambiguous" in result.stderr
    assert (folder / "Caddyfile").read_text() == MAIN
    assert leftovers(folder) == [] and port_files(folder) == []
    # Caddy refused to start with it (validated once that failed, not before)
    assert systemctl_calls(host) == ["is-active --quiet caddy", "start caddy"]


@needs_caddy
def test_failed_reload_restores_the_previous_site_and_port_file(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    (bin_dir / "fail").touch()
    result = run(host, switching(folder, live_site(folder, ("other.test",)), 20002))
    assert result.exited == base.EXIT_RELOAD and "reload caddy failed" in result.stderr
    assert (folder / "otter.d" / "production.caddy").read_text() == live_site(folder)
    assert leftovers(folder) == ["production.caddy"] and port_files(folder) == ["20001"]


@needs_caddy
def test_a_switch_killed_before_its_reload_is_reloaded_by_the_next(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    # what a run killed between installing a new site and reloading leaves
    (folder / "otter.d" / ".production.pending").touch()
    result = run(host, switching(folder, live_site(folder), 20002))
    assert result.exited == 0 and "(reload)" in result.stdout
    assert leftovers(folder) == ["production.caddy"]
    assert run(host, switching(folder, live_site(folder), 20003)).stdout.endswith(
        "(no reload)\n")


def test_missing_caddy_exits_3_and_writes_nothing(host):
    folder, bin_dir = host
    if (bin_dir / "caddy").exists():
        (bin_dir / "caddy").unlink()
    result = run(host, switching(folder, site()))
    assert result.exited == base.EXIT_MISSING and "Caddy is not installed" in result.stderr
    assert (folder / "Caddyfile").read_text() == MAIN
    assert not (folder / "otter.d").exists() and port_files(folder) == []
    assert "server-a" in caddy.missing_caddy_message("server-a")


@needs_caddy
def test_remove_site_reloads_when_active(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder))).ok
    (folder / "otter.d" / ".production.pending").touch()
    result = run(host, caddy.remove_site("production", str(folder)))
    assert result.ok and leftovers(folder) == []
    assert systemctl_calls(host)[-1] == "reload caddy"
    assert run(host, caddy.remove_site("production", str(folder))).ok


@needs_caddy
def test_validation_leaves_no_caddy_data_behind(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    result = run(host, switching(folder, live_site(folder, tls="internal")))
    assert result.exited == 0, result.stderr
    assert sorted(os.listdir(folder.parent)) == ["bin", "etc-caddy", "state"]


@pytest.fixture
def real_caddy(tmp_path):
    """A real Caddy on a loopback port serving otter's site for an empty port folder:
    (its port, the folder)."""
    listen, updir = test_nginx._free_port(), tmp_path / "upstream"
    updir.mkdir()
    text = caddy.render_site("production", [], "<port>", listen, "off",
                             upstream_dir=str(updir))
    config = tmp_path / "Caddyfile"
    config.write_text("{\n\tadmin off\n\tauto_https off\n}\n" +
                      text.replace(f":{listen} {{", f":{listen} {{\n\tbind 127.0.0.1"))
    env = {**os.environ, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path),
           "XDG_CONFIG_HOME": str(tmp_path)}
    server = subprocess.Popen(["caddy", "run", "--config", str(config), "--adapter",
                               "caddyfile"], env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    try:
        for line in server.stderr:  # Caddy says when it serves
            if "serving initial configuration" in line:
                break
        yield listen, updir
    finally:
        server.terminate()
        server.wait(timeout=10)


@needs_caddy
def test_real_caddy_follows_the_port_file_without_a_reload(real_caddy, backends):
    """Caddy reads the port file per request: no file is a 502 with otter's words, and a
    rename alone moves the next request."""
    listen, updir = real_caddy
    status, body = test_nginx._get(listen)
    assert status == 502 and body == \
        f"otter: no live release of production here ({updir} holds no port file)\n"
    (updir / str(backends[0])).touch()
    assert test_nginx._get(listen) == (200, "one")
    (updir / str(backends[0])).rename(updir / str(backends[1]))
    assert test_nginx._get(listen) == (200, "two")


@needs_caddy
@test_nginx.needs_wrk
def test_real_caddy_fails_no_request_while_the_port_file_is_renamed(real_caddy, backends):
    """300 switches under wrk: none fails a request (a `try_files` globbing once failed about
    1 switch in 40: the file renamed between the listing and its check)."""
    listen, updir = real_caddy
    (updir / str(backends[0])).touch()
    count = test_nginx.renames_under_load(listen, updir, backends)
    assert (count.non_2xx, count.socket_errors) == (0, 0) and count.requests > 300

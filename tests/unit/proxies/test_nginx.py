"""nginx site rendering and checks; the switch and remove scripts run for real against a
temp conf folder with a fake nginx and systemctl (the machine's /etc/nginx untouched), and,
when this machine has nginx, the rendered sites checked by the real `nginx -t`."""
from __future__ import annotations

import http.client
import http.server
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from otterfile.errors import OtterError
from otterfile.executors.local import LocalExecutor
from otterfile.load.model import nginx as nginx_value
from otterfile.proxies import base, nginx
from otterfile.proxies.base import Site
from otterfile.scripts import load
from otterfile.run.state import PORT_PLACEHOLDER
from otterfile.load.validate import FieldError
from tests.fakes import executable

pytestmark = pytest.mark.unit

# every server block pulls maintenance mode's page in (nothing while it is off)
PAGE = ("\t# `otter maintenance production on` puts the page here (nothing matches while off)\n"
        "\tinclude /var/lib/otter/production/maintenance/nginx*;\n")
HEADER = ('# Managed by otter for deployment "production": otter owns this file and rewrites\n'
          "# it when the site changes, so edits here are lost. nginx.conf includes it from "
          "conf.d/.\n")
UP = "/var/lib/otter/production/upstream"
UPSTREAM = ("upstream otter_production {\n\tserver 127.0.0.1:20001;\n\tkeepalive 16;\n}\n\n"
            "# WebSocket upgrades pass through; other requests send no Connection header, "
            "so the\n# keepalive connections above are reused (\"close\" would end each one).\n"
            "map $http_upgrade $otter_upgrade_production {\n\tdefault upgrade;\n\t'' '';\n}\n\n")
LOCATION = ("\tlocation / {\n"
            "\t\tproxy_pass http://otter_production;\n"
            "\t\tproxy_http_version 1.1;\n"
            "\t\tproxy_set_header Host $host;\n"
            "\t\tproxy_set_header X-Real-IP $remote_addr;\n"
            "\t\tproxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "\t\tproxy_set_header X-Forwarded-Proto $scheme;\n"
            "\t\tproxy_set_header Upgrade $http_upgrade;\n"
            "\t\tproxy_set_header Connection $otter_upgrade_production;\n"
            "\t}\n}\n")
TOOLS = ["sh", "cat", "cp", "mv", "rm", "mkdir", "tail", "grep", "flock", "dirname", "awk",
         "mktemp", "install", "chmod", "readlink", "ln", "cmp"]
NJS = Path("/usr/lib/nginx/modules/ngx_http_js_module.so")
REAL_NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")

# Records its argv; `-t` fails when a site says "broken"; `-T` names every site file as
# nginx.conf with `include conf.d/*.conf` would, unless $d/not-included exists.
FAKE_NGINX = r"""
d=$(dirname "$0")
echo "$*" >> "$d/nginx.calls"
case "$1" in
  -t) for f in "$conf"/*.conf; do
        if grep -q broken "$f" 2>/dev/null; then
          echo "nginx: [emerg] unknown directive \"broken\" in $f:3" >&2
          echo "nginx: configuration file /etc/nginx/nginx.conf test failed" >&2; exit 1
        fi
      done
      echo "nginx: configuration file /etc/nginx/nginx.conf test is successful" >&2 ;;
  -T) [ -f "$d/not-included" ] && exit 0
      for f in "$conf"/*.conf; do
        [ -f "$f" ] && { echo "# configuration file $f:"; cat "$f"; }
      done ;;
esac
"""

# Records its argv; `is-active` answers from $d/active, `reload`/`start` fail if $d/fail.
FAKE_SYSTEMCTL = r"""#!/bin/sh
d=$(dirname "$0")
echo "$*" >> "$d/systemctl.calls"
case "$1" in
  is-active) [ -f "$d/active" ] ;;
  reload|start) if [ -f "$d/fail" ]; then echo "Job for nginx.service failed." >&2; exit 1; fi ;;
esac
"""

needs_nginx = pytest.mark.skipif(REAL_NGINX is None, reason="no nginx binary")
needs_njs = pytest.mark.skipif(REAL_NGINX is None or not NJS.exists(),
                               reason="no nginx with njs (libnginx-mod-http-js)")


def site(port=20001, domains=("myapp.test",)) -> str:
    """A reload switch's site: it names the port."""
    return nginx.render_site("production", list(domains), port, 3000)


def live_site(folder, domains=("myapp.test",)) -> str:
    """The default switch's site: njs reads the port file of `upstream(folder)`."""
    return nginx.render_site("production", list(domains), "<port>", 3000,
                             upstream_dir=str(upstream(folder)), nginx_dir=str(folder))


def upstream(folder) -> Path:
    return folder.parent / "state" / "production" / "upstream"


def switching(folder, content: str, port=20001, **options):
    """nginx.switch with the temp nginx folder and an upstream folder beside it."""
    return nginx.switch("production", content, str(folder), upstream_dir=str(upstream(folder)),
                        port=port, **options)


def port_files(folder) -> list[str]:
    return sorted(os.listdir(upstream(folder))) if upstream(folder).exists() else []


def test_render_site_with_domains():
    assert nginx.render_site("production", ["myapp.com", "www.myapp.com"], 20001, None) == (
        HEADER + UPSTREAM + "server {\n\tlisten 80;\n\tserver_name myapp.com www.myapp.com;\n"
            + PAGE + "\n"
        + LOCATION)


def test_render_site_without_domains_listens_on_the_runtime_port():
    assert nginx.render_site("production", [], 20001, 3000) == (
        HEADER + UPSTREAM + "server {\n\t# no domains: every name on this port (the "
        "distribution's default site is set aside)\n\tlisten 3000 default_server;\n"
        "\tserver_name _;\n" + PAGE + "\n" + LOCATION)


def test_identifiers_are_distinct_nginx_names():
    names = ["my-app", "my.app", "my_app", "My_app", "my_2dapp"]
    idents = [nginx.identifier(n) for n in names]
    assert idents[0] == "my_2dapp" and nginx.identifier("production") == "production"
    # nginx compares upstream and variable names without case
    assert len({i.lower() for i in idents}) == len(names)
    assert all(i.replace("_", "").isalnum() and i.islower() for i in idents)


@pytest.mark.parametrize("args", [
    (["my app.com"], 1, None), (["a.com;\n}"], 1, None), (["a.com:8080"], 1, None),
    (["~^regex$"], 1, None), ([None], 1, None), (["a.com"], 0, None), (["a.com"], 65536, None),
    (["a.com"], "80", None), (["a.com"], True, None), ([], 1, None), ([], 1, 0)])
def test_render_site_rejects_bad_values(args):
    with pytest.raises(OtterError):
        nginx.render_site("production", *args)


def test_render_site_rejects_a_bad_deployment_name():
    with pytest.raises(OtterError, match="deployment name"):
        nginx.render_site("my app", ["a.com"], 1, None)


def test_plan_placeholder_port_renders():
    text = nginx.render_site("production", ["*.myapp.com"], PORT_PLACEHOLDER, None)
    assert "\tserver 127.0.0.1:<port>;\n" in text and "server_name *.myapp.com;" in text
    assert nginx.PROXY.served_port(text) is None


def test_render_site_reading_the_port_file_with_njs():
    text = nginx.render_site("production", ["myapp.com"], 20001, None, upstream_dir=UP)
    assert "20001" not in text and "upstream otter_production" not in text
    assert ("js_import otter_production from /etc/nginx/conf.d/otter-production.js;\n"
            "js_set $otter_upstream_production otter_production.upstream;\n") in text
    assert f"\tset $otter_upstream_dir {UP};\n" in text
    assert ('\t\tif ($otter_upstream_production = "") {\n\t\t\treturn 502 "otter: no live '
            f'release of production here ({UP} holds no port file)\\n";\n\t\t}}\n'
            "\t\tproxy_pass http://$otter_upstream_production;\n") in text
    assert "map $http_upgrade $otter_upgrade_production {\n\tdefault upgrade;\n\t'' close;\n" \
        in text
    assert nginx.PROXY.served_port(text) is None
    assert base.served_port(nginx.PROXY, text, "20002\n20001\n") == 20001
    assert base.served_port(nginx.PROXY, text, "") is None
    assert base.served_port(nginx.PROXY, "", "20001\n") is None  # no site, nothing served


def test_switching_parsed_from_the_probe():
    assert base.parse_switching("file\n") == base.Switching(True)
    assert base.parse_switching("") == base.Switching(True)  # plan: a fresh target
    said = base.parse_switching("reload: njs is not installed\n")
    assert not said.per_request and said.why == "njs is not installed"
    assert said.said == "reload: njs is not installed"
    assert base.parse_switching("reload: x\x1b[2J\n").why == "x"  # a target's words
    chosen = base.parse_switching("file\n", "reload")
    assert not chosen.per_request and "switch=\"reload\"" in chosen.why
    assert base.listed_port("notes\n20001\n") == 20001 and base.listed_port("0\n") is None
    assert base.listed_port("99999\n") is None


def test_served_port_round_trip():
    value, proxy = nginx_value(), nginx.PROXY
    for port in (1, 20001, 65535):
        text = proxy.render(value, Site("production", ("a.com",), port, None, False))
        assert proxy.served_port(text) == port
    assert proxy.served_port("") is None
    assert proxy.served_port(":3000 {\n\treverse_proxy 127.0.0.1:20001\n}\n") is None


@pytest.mark.parametrize("tls", [None, ("/etc/ssl/a.pem", "/etc/ssl/a.key"), ["c", "k"],
                                 ("host:/etc/ssl/a.pem", "host:/etc/ssl/a.key")])
def test_check_accepts_tls(tls):
    value = nginx_value(tls=tls)
    assert nginx.PROXY.check(value).tls == (None if tls is None else tuple(tls))


@pytest.mark.parametrize("tls", ["/etc/ssl/a.pem", ("a",), ("a", "b", "c"), ("a", ""),
                                 ("a", " "), ("a", 1), True, {"cert": "a", "key": "b"}])
def test_check_rejects_bad_tls(tls):
    with pytest.raises(FieldError) as error:
        nginx.PROXY.check(nginx_value(tls=tls))
    assert error.value.path == "tls" and "(cert path, key path)" in error.value.message


def test_proxy_implements_every_method_of_the_interface():
    wanted = {n for n in vars(base.Proxy) if not n.startswith("_")} | {"name"}
    assert all(hasattr(nginx.PROXY, n) for n in wanted) and nginx.PROXY.name == "nginx"
    assert nginx.PROXY.site_path("production") == "/etc/nginx/conf.d/otter-production.conf"
    assert "server-a" in nginx.PROXY.missing_message("server-a")
    assert "apt-get install nginx-light" in nginx.PROXY.missing_message("server-a")


def test_switch_command_shape():
    command = nginx.PROXY.switch(nginx_value(), Site("production", ("a.test",), 1, None),
                                 "content\n", Path("."))
    assert command.argv[3:] == ("sh", "/etc/nginx", "production", "", UP, "1")
    assert command.stdin == "content\n"
    assert nginx.PROXY.remove("production").argv[3:] == ("sh", "/etc/nginx", "production")
    with pytest.raises(OtterError):
        nginx.switch("../etc", "content\n", upstream_dir=UP, port=1)
    with pytest.raises(FieldError) as info:
        nginx.PROXY.check(nginx_value(switch="njs"))
    assert info.value.path == "switch"
    assert nginx.PROXY.ensure(nginx_value()).argv[4:] == ("nginx", "nginx", nginx.NJS_PACKAGE,
                                                          "nginx", "apache2")
    assert nginx.PROXY.ensure(nginx_value(switch="reload")).argv[4:7] == ("nginx", "nginx", "")


def _tool(folder, name, text):
    executable(folder / name, text)


@pytest.fixture
def host(tmp_path):
    """A temp nginx folder with conf.d, and a PATH with fake nginx and systemctl."""
    folder = tmp_path / "etc-nginx"
    (folder / "conf.d").mkdir(parents=True)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in TOOLS:
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bin_dir / tool)
    conf = shlex.quote(str(folder / "conf.d"))
    _tool(bin_dir, "nginx", f"#!/bin/sh\nconf={conf}\n{FAKE_NGINX}")
    _tool(bin_dir, "systemctl", FAKE_SYSTEMCTL)
    return folder, bin_dir


def run(host, command):
    folder, bin_dir = host
    return LocalExecutor().run(replace(command, env={"PATH": str(bin_dir),
                                                     "HOME": str(folder.parent)}))


def calls(host, tool="systemctl") -> list[str]:
    file = host[1] / f"{tool}.calls"
    return file.read_text().splitlines() if file.exists() else []


def leftovers(folder) -> list[str]:
    return sorted(n for n in os.listdir(folder / "conf.d") if n != ".otter.lock")


def served(folder) -> str:
    return (folder / "conf.d" / "otter-production.conf").read_text()


def test_first_switch_installs_site_and_njs_file_and_starts_nginx(host):
    folder, _ = host
    result = run(host, switching(folder, live_site(folder)))
    assert result.exited == 0, result.stderr
    assert result.stdout == "started nginx: it was not running\n" \
        "switched production to 127.0.0.1:20001 (start)\n"
    assert served(folder) == live_site(folder) and port_files(folder) == ["20001"]
    assert leftovers(folder) == ["otter-production.conf", "otter-production.js"]
    assert "fs.readdirSync(r.variables.otter_upstream_dir)" in \
        (folder / "conf.d" / "otter-production.js").read_text()
    assert calls(host, "nginx") == ["-t", "-T"]
    assert calls(host) == ["is-active --quiet nginx", "start nginx"]


def test_next_switch_renames_the_port_file_without_a_reload(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    result = run(host, switching(folder, live_site(folder), 20002))
    assert result.stdout == "switched production to 127.0.0.1:20002 (no reload)\n", \
        result.stderr
    assert port_files(folder) == ["20002"] and calls(host, "nginx") == ["-t", "-T"]
    assert calls(host) == ["is-active --quiet nginx", "reload nginx", "is-active --quiet nginx"]
    # a changed site (here: the njs file another otter wrote) is checked and reloaded
    (folder / "conf.d" / "otter-production.js").write_text("old\n")
    result = run(host, switching(folder, live_site(folder), 20003))
    assert result.stdout.endswith("(reload)\n") and calls(host)[-1] == "reload nginx"
    assert "readdirSync" in (folder / "conf.d" / "otter-production.js").read_text()


def test_reload_switch_rewrites_the_site_and_reloads_each_time(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, site(20001), 20001)).ok
    result = run(host, switching(folder, site(20002), 20002))
    assert result.stdout == "switched production to 127.0.0.1:20002 (reload)\n", result.stderr
    assert served(folder) == site(20002) and port_files(folder) == ["20002"]
    assert calls(host) == ["is-active --quiet nginx", "reload nginx"] * 2


def test_invalid_config_restores_the_previous_site(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    result = run(host, switching(folder, "broken;\n", 20002))
    assert result.exited == base.EXIT_INVALID
    assert "rejected" in result.stderr and 'unknown directive "broken"' in result.stderr
    assert served(folder) == live_site(folder) and port_files(folder) == ["20001"]
    assert leftovers(folder) == ["otter-production.conf", "otter-production.js"]
    assert calls(host) == ["is-active --quiet nginx", "reload nginx"]


def test_invalid_first_config_leaves_no_trace(host):
    folder, _ = host
    result = run(host, switching(folder, "broken;\n"))
    assert result.exited == base.EXIT_INVALID
    assert leftovers(folder) == [] and calls(host) == [] and port_files(folder) == []


def test_failed_reload_restores_the_previous_site_and_port_file(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, site(20001), 20001)).ok
    (bin_dir / "fail").touch()
    result = run(host, switching(folder, live_site(folder), 20002))
    assert result.exited == base.EXIT_RELOAD and "reload nginx failed" in result.stderr
    assert "Job for nginx.service failed." in result.stderr
    assert served(folder) == site(20001) and port_files(folder) == ["20001"]
    assert leftovers(folder) == ["otter-production.conf", "otter-production.js"]


def test_failed_first_start_leaves_no_trace(host):
    folder, bin_dir = host
    (bin_dir / "fail").touch()
    result = run(host, switching(folder, live_site(folder)))
    assert result.exited == base.EXIT_RELOAD and "start nginx failed" in result.stderr
    assert leftovers(folder) == [] and port_files(folder) == []


def test_a_stopped_nginx_is_started_by_a_switch_that_changes_no_file(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    (bin_dir / "active").unlink()
    result = run(host, switching(folder, live_site(folder), 20002))
    assert result.exited == 0 and "started nginx: it was not running" in result.stdout
    assert calls(host)[-1] == "start nginx" and port_files(folder) == ["20002"]
    (bin_dir / "fail").touch()
    failed = run(host, switching(folder, live_site(folder), 20003))
    assert failed.exited == base.EXIT_RELOAD and "start nginx failed" in failed.stderr
    assert port_files(folder) == ["20002"] and served(folder) == live_site(folder)


def test_a_switch_killed_before_its_reload_is_reloaded_by_the_next(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder), 20001)).ok
    (folder / "conf.d" / ".otter-production.pending").touch()
    result = run(host, switching(folder, live_site(folder), 20002))
    assert result.stdout.endswith("(reload)\n"), result.stderr
    assert ".otter-production.pending" not in leftovers(folder)


def test_missing_nginx_exits_3_and_writes_nothing(host):
    folder, bin_dir = host
    (bin_dir / "nginx").unlink()
    result = run(host, switching(folder, site()))
    assert result.exited == base.EXIT_MISSING and "nginx is not installed" in result.stderr
    assert os.listdir(folder / "conf.d") == [] and calls(host) == [] and port_files(folder) == []


def test_config_that_does_not_include_conf_d_is_restored(host):
    folder, bin_dir = host
    (bin_dir / "not-included").touch()
    result = run(host, switching(folder, live_site(folder)))
    assert result.exited == base.EXIT_INVALID
    assert "does not include" in result.stderr and f"{folder}/conf.d/*.conf" in result.stderr
    assert leftovers(folder) == [] and calls(host) == [] and port_files(folder) == []


def test_switch_creates_a_missing_conf_d(host):
    folder, _ = host
    os.rmdir(folder / "conf.d")
    assert run(host, switching(folder, site())).ok
    assert served(folder) == site()


def test_remove_site_reloads_when_active(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, live_site(folder))).ok
    (folder / "conf.d" / ".otter-production.pending").touch()
    result = run(host, nginx.remove_site("production", str(folder)))
    assert result.stdout == "removed production\n" and leftovers(folder) == []
    assert calls(host)[-1] == "reload nginx" and calls(host, "nginx")[-1] == "-t"
    again = run(host, nginx.remove_site("production", str(folder)))
    assert again.ok and again.stdout == "no site file for production\n"


def test_remove_site_of_a_stopped_nginx_does_not_start_it(host):
    folder, _ = host
    assert run(host, switching(folder, site())).ok
    assert run(host, nginx.remove_site("production", str(folder))).ok
    assert leftovers(folder) == [] and "reload nginx" not in calls(host)


def test_remove_site_fails_when_reload_fails(host):
    folder, bin_dir = host
    (bin_dir / "active").touch()
    assert run(host, switching(folder, site())).ok
    (bin_dir / "fail").touch()
    result = run(host, nginx.remove_site("production", str(folder)))
    assert result.exited == base.EXIT_RELOAD and leftovers(folder) == []


def test_switch_probe_says_how_nginx_switches(host, tmp_path):
    folder, bin_dir = host
    probe = nginx.PROXY.switch_probe(nginx_value())
    _tool(bin_dir, "nginx", "#!/bin/sh\n[ \"$1\" = -T ] && cat \"$(dirname \"$0\")/dump\"\n")
    (bin_dir / "dump").write_text("# configuration file /etc/nginx/modules-enabled/50-mod-"
                                  "http-js.conf:\nload_module modules/ngx_http_js_module.so;\n")
    assert run(host, probe).stdout == "file\n"
    (bin_dir / "dump").write_text("#load_module modules/ngx_http_js_module.so;\n")
    said = base.parse_switching(run(host, probe).stdout)
    assert not said.per_request and "njs" in said.why
    (bin_dir / "nginx").unlink()
    assert run(host, probe).stdout == "reload: nginx is not installed\n"


def _real_conf(root, includes: str, modules: str = "") -> None:
    """An nginx.conf whose every path is under `root`, so `nginx -t` touches nothing else."""
    temp = " ".join(f"{kind}_temp_path {root}/{kind};" for kind in
                    ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (root / "nginx.conf").write_text(
        f"{modules}pid {root}/nginx.pid;\nerror_log {root}/error.log;\nevents {{}}\n"
        f"http {{\n\taccess_log off;\n\t{temp}\n\t{includes}\n}}\n")


def _real_nginx(root, *args) -> subprocess.CompletedProcess:
    return subprocess.run([REAL_NGINX, "-p", f"{root}/", "-e", f"{root}/error.log",
                           "-c", f"{root}/nginx.conf", *args],
                          capture_output=True, text=True, check=False)


@needs_nginx
def test_real_nginx_accepts_rendered_sites_of_several_deployments(tmp_path):
    # names that differ only in '-', '.', '_' or case must not clash inside one http block
    for i, name in enumerate(["my-app", "my.app", "my_app", "My_app"]):
        domains = [f"{i}.myapp.test", f"*.{i}.myapp.test"] if i % 2 else []
        text = nginx.render_site(name, domains, 20001 + i, 18000 + i)
        (tmp_path / f"otter-{name}.conf").write_text(text)
    _real_conf(tmp_path, f"include {tmp_path}/otter-*.conf;")
    result = _real_nginx(tmp_path, "-t")
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


@needs_njs
def test_real_nginx_with_njs_accepts_sites_reading_port_files(tmp_path):
    for i, name in enumerate(["my-app", "my.app", "my_app", "My_app"]):
        domains = [f"{i}.myapp.test"] if i % 2 else []
        text = nginx.render_site(name, domains, "<port>", 18000 + i,
                                 upstream_dir=f"{tmp_path}/{name}", nginx_dir=str(tmp_path))
        (tmp_path / f"otter-{name}.conf").write_text(text)
        (tmp_path / "conf.d").mkdir(exist_ok=True)
        (tmp_path / "conf.d" / f"otter-{name}.js").write_text(_njs_file())
    _real_conf(tmp_path, f"include {tmp_path}/otter-*.conf;", f"load_module {NJS};\n")
    result = _real_nginx(tmp_path, "-t")
    assert result.returncode == 0, result.stderr


def _njs_file() -> str:
    """The njs module the switch script writes (its heredoc)."""
    text = load("nginx-switch.sh")
    return text[text.index("<<'JS'\n") + 6:text.index("\nJS\n") + 1]


def _get(port: int, host: str = "myapp.test") -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/", headers={"Host": host})
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


needs_wrk = pytest.mark.skipif(shutil.which("wrk") is None, reason="no wrk (scripts/setup.sh)")


def renames_under_load(listen: int, updir: Path, ports: list[int], switches: int = 300):
    """wrk keeps `listen` busy while the port file is renamed between `ports` `switches`
    times, 5 ms apart (as far apart as no two switches ever come); what wrk counted."""
    from bench.zero_downtime import parse_wrk
    wrk = subprocess.Popen(["wrk", "-t1", "-c4", "-d120s", "--timeout", "5s", "-H",
                            "Host: myapp.test", f"http://127.0.0.1:{listen}/"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        names = [updir / str(port) for port in ports]
        for i in range(switches):
            names[i % 2].rename(names[(i + 1) % 2])
            time.sleep(0.005)
    finally:
        wrk.send_signal(signal.SIGINT)  # wrk stops and prints what it counted
        out = wrk.communicate(timeout=30)[0]
    return parse_wrk(out)


class Quiet(http.server.ThreadingHTTPServer):
    def handle_error(self, request, client_address):
        pass  # a client (wrk) that hangs up mid-request is no news here


@pytest.fixture
def backends():
    """Two HTTP servers on 127.0.0.1 answering "one" and "two"; their ports."""
    servers = []
    for body in (b"one", b"two"):
        class Answer(http.server.BaseHTTPRequestHandler):
            text = body

            def do_GET(self):  # noqa: N802 (the standard library's name)
                self.send_response(200)
                self.send_header("Content-Length", str(len(self.text)))
                self.end_headers()
                self.wfile.write(self.text)

            def log_message(self, *args):
                pass
        server = Quiet(("127.0.0.1", 0), Answer)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
    yield [s.server_address[1] for s in servers]
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def real_nginx(tmp_path):
    """A real nginx with njs on a loopback port serving otter's site for an empty port
    folder: (its port, the folder)."""
    # where nginx's unprivileged worker may look (pytest's tmp_path is root's alone)
    shared = Path(tempfile.mkdtemp(prefix="otter-test-"))
    shared.chmod(0o755)
    listen, updir = _free_port(), shared / "upstream"
    updir.mkdir()
    text = nginx.render_site("production", [], "<port>", listen, upstream_dir=str(updir),
                             nginx_dir=str(tmp_path))
    (tmp_path / "conf.d").mkdir()
    (tmp_path / "conf.d" / "otter-production.conf").write_text(
        text.replace(f"listen {listen} default_server", f"listen 127.0.0.1:{listen}"))
    (tmp_path / "conf.d" / "otter-production.js").write_text(_njs_file())
    _real_conf(tmp_path, f"include {tmp_path}/conf.d/*.conf;", f"load_module {NJS};\n")
    started = _real_nginx(tmp_path)
    assert started.returncode == 0, started.stderr
    try:
        yield listen, updir
    finally:
        _real_nginx(tmp_path, "-s", "stop")
        shutil.rmtree(shared)


@needs_njs
def test_real_nginx_follows_the_port_file_without_a_reload(real_nginx, backends):
    """nginx reads the port file per request (njs): no file is a 502 with otter's words, and
    a rename alone moves the next request."""
    listen, updir = real_nginx
    status, body = _get(listen)
    assert status == 502 and body == \
        f"otter: no live release of production here ({updir} holds no port file)\n"
    (updir / str(backends[0])).touch()
    assert _get(listen) == (200, "one")
    (updir / str(backends[0])).rename(updir / str(backends[1]))
    assert _get(listen) == (200, "two")


@needs_njs
@needs_wrk
def test_real_nginx_fails_no_request_while_the_port_file_is_renamed(real_nginx, backends):
    listen, updir = real_nginx
    (updir / str(backends[0])).touch()
    count = renames_under_load(listen, updir, backends)
    assert (count.non_2xx, count.socket_errors) == (0, 0) and count.requests > 300


@needs_nginx
def test_switch_with_real_nginx_checks_and_finds_the_include(tmp_path, host):
    folder, bin_dir = host
    root = tmp_path / "nginx-root"
    root.mkdir()
    _tool(bin_dir, "nginx", f"#!/bin/sh\nexec {shlex.quote(REAL_NGINX)} -p {root}/ "
                            f"-e {root}/error.log -c {root}/nginx.conf \"$@\"\n")
    _real_conf(root, f"include {folder}/conf.d/*.conf;")
    result = run(host, switching(folder, site()))
    assert result.exited == 0, result.stderr
    bad = run(host, switching(folder, site() + "bogus;\n", 20002))
    assert bad.exited == base.EXIT_INVALID and 'unknown directive "bogus"' in bad.stderr
    _real_conf(root, "")
    excluded = run(host, switching(folder, site(20002), 20002))
    assert excluded.exited == base.EXIT_INVALID and "does not include" in excluded.stderr
    assert served(folder) == site() and port_files(folder) == ["20001"]
    assert leftovers(folder) == ["otter-production.conf", "otter-production.js"]

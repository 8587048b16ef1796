"""The proxy kind handover's shell pieces, run for real against fake tools: the ensure step
that lets the old proxy keep serving (or refuses when it serves more than this deployment),
the scripts that tell what else Caddy and nginx serve, and the handover itself (ports
freed first, the old proxy back when the new one fails, the old site removed)."""
from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

import pytest

from otterfile import scripts
from otterfile.command import cmd, script
from otterfile.load.model import nginx as nginx_value
from otterfile.proxies import install as proxy_install, nginx
from otterfile.executors.local import LocalExecutor
from tests.fakes import executable

pytestmark = pytest.mark.unit

FAKE = r"""#!/bin/sh
d=$(dirname "$0"); echo "$(basename "$0") $*" >> "$d/calls"
"""
# active-NAME files say which units run; ss prints `listening` while `busy` counts down
SYSTEMCTL = r"""case "$1" in
  is-active) [ -f "$d/active-$3" ] ;;
  stop) [ ! -f "$d/stop-fails" ] || { echo "Failed to stop" >&2; exit 1; }; rm -f "$d/active-$3" ;;
  start|enable) [ "$2" = -q ] || touch "$d/active-$2" ;;
esac
"""
SS = r"""n=$(cat "$d/busy" 2>/dev/null || echo 0)
if [ "$n" -gt 0 ]; then echo $((n - 1)) > "$d/busy"; echo "LISTEN 0 4096 *:80 *:*"; fi
"""


@pytest.fixture
def bin_dir(tmp_path) -> Path:
    """A PATH of real basic tools and fake systemctl, ss, apt-get."""
    folder = tmp_path / "bin"
    folder.mkdir()
    for tool in ["sh", "awk", "sed", "grep", "head", "tail", "ls", "printf", "basename",
                 "dirname", "touch", "cp", "cat", "rm", "sleep", "mktemp", "tr"]:
        if shutil.which(tool):
            os.symlink(shutil.which(tool), folder / tool)
    executable(folder / "systemctl", FAKE + SYSTEMCTL)
    executable(folder / "ss", FAKE + SS)
    return folder


def run(bin_dir: Path, command, stdin: str | None = None):
    from dataclasses import replace
    return LocalExecutor().run(replace(command, env={"PATH": str(bin_dir)},
                                       **({"stdin": stdin} if stdin is not None else {})))


def calls(bin_dir: Path) -> list[str]:
    file = bin_dir / "calls"
    return file.read_text().splitlines() if file.exists() else []


# --- the ensure step -----------------------------------------------------------------------

def ensure(bin_dir: Path, site: Path, serving: str):
    """nginx wanted; caddy runs and owns 80/443, `site` is its site of this deployment,
    `serving` what its check prints besides."""
    executable(bin_dir / "nginx", FAKE)
    (bin_dir / "active-caddy").touch()
    check = script('printf "%s" "$1"', args=[serving])
    return run(bin_dir, nginx.PROXY.ensure(nginx.PROXY.check(nginx_value()), [("caddy", str(site), check)]))


def test_a_proxy_serving_this_deployment_alone_keeps_serving_until_the_switch(bin_dir,
                                                                                tmp_path):
    site = tmp_path / "production.caddy"
    site.write_text("app.test {\n}\n")
    result = ensure(bin_dir, site, "")
    assert result.exited == 0, result.stderr
    assert "handover: caddy serves until the switch, then nginx takes ports 80/443 over" in \
        result.stderr
    made = calls(bin_dir)
    assert "systemctl enable --now nginx" not in made  # nginx must not race caddy
    assert "systemctl disable -q nginx" in made and (bin_dir / "active-caddy").exists()


def test_a_proxy_that_serves_more_is_refused_before_anything_changes(bin_dir, tmp_path):
    site = tmp_path / "production.caddy"
    site.write_text("app.test {\n}\n")
    result = ensure(bin_dir, site, "/etc/caddy/Caddyfile line 3: shop.test {\n")
    assert result.exited == proxy_install.EXIT_PROXY
    assert "caddy serves this deployment and more, so it cannot hand ports 80/443 over to " \
           "nginx; nothing was changed" in result.stderr
    assert "  /etc/caddy/Caddyfile line 3: shop.test {" in result.stderr
    assert not [c for c in calls(bin_dir) if not c.startswith(("systemctl is-active", "ss"))]


def test_a_proxy_without_this_deployments_site_is_refused_as_before(bin_dir, tmp_path):
    result = ensure(bin_dir, tmp_path / "none.caddy", "")
    assert result.exited == proxy_install.EXIT_PROXY
    assert "caddy is running here and owns ports 80/443, so nginx cannot serve" in \
        result.stderr


# --- what else a proxy serves --------------------------------------------------------------

DEBIAN_CADDYFILE = """# The Caddyfile is an easy way to configure your Caddy web server.

:80 {
\t# Set this path to your site's directory.
\troot * /usr/share/caddy

\t# Enable the static file server.
\tfile_server

\t# Another common task is to set up a reverse proxy:
\t# reverse_proxy localhost:8080
}
"""


def caddy_serves(folder: Path, main: str, *sites: str) -> list[str]:
    (folder / "otter.d").mkdir(parents=True, exist_ok=True)
    (folder / "Caddyfile").write_text(main)
    for name in ("production", *sites):
        (folder / "otter.d" / f"{name}.caddy").write_text(f"{name}.test {{\n}}\n")
    result = LocalExecutor().run(script(scripts.load("caddy-serves.sh"),
                                        args=[str(folder), "production"]))
    assert result.ok, result.stderr
    return result.stdout.splitlines()


def test_caddy_serving_only_this_deployment_and_its_placeholder_says_nothing(tmp_path):
    line = f"import {tmp_path}/otter.d/*.caddy\n"
    assert caddy_serves(tmp_path, DEBIAN_CADDYFILE + line) == []
    aside = "".join(f"# otter: {row}\n" for row in DEBIAN_CADDYFILE.splitlines())
    options = "{\n\temail ops@example.com\n}\n(common) {\n\theader X-A b\n}\n"
    assert caddy_serves(tmp_path, options + aside + line) == []


def test_caddy_names_every_other_site(tmp_path):
    main = DEBIAN_CADDYFILE.replace("/usr/share/caddy", "/srv/www") + \
        f"import {tmp_path}/otter.d/*.caddy\nshop.test {{\n\t@a {{\n\t\tpath /a\n\t}}\n" \
        "\trespond @a hi\n}\nimport /etc/caddy/more/*\nlone.test\nopen.test {\n"
    assert caddy_serves(tmp_path, main, "staging") == [
        f"otter's site of staging ({tmp_path}/otter.d/staging.caddy)",
        f"{tmp_path}/Caddyfile line 3: :80 {{",  # a changed placeholder is the user's
        f"{tmp_path}/Caddyfile line 14: shop.test {{",
        f"{tmp_path}/Caddyfile line 20: import /etc/caddy/more/*",
        f"{tmp_path}/Caddyfile line 21: lone.test",
        f"{tmp_path}/Caddyfile line 22: open.test {{ (not closed)"]


DEBIAN_DEFAULT = """##
# You should look at the following URL's in order to grasp a solid understanding
##
server {
\tlisten 80 default_server;
\tlisten [::]:80 default_server;
\troot /var/www/html;
\t# Add index.php to the list if you are using PHP
\tindex index.html index.htm index.nginx-debian.html;

\tserver_name _;

\tlocation / {
\t\ttry_files $uri $uri/ =404;
\t}
}
"""


def nginx_serves(bin_dir: Path, files: dict[str, str], fails: bool = False):
    dump = "nginx: the configuration file /etc/nginx/nginx.conf syntax is ok\n"
    for path, text in {"/etc/nginx/nginx.conf": "http {\n\tinclude /etc/nginx/conf.d/*.conf;"
                                                "\n}\n", **files}.items():
        dump += f"# configuration file {path}:\n{text}\n"
    (bin_dir / "dump").write_text(dump)
    executable(bin_dir / "nginx", FAKE + ('echo "nginx: [emerg] unexpected end" >&2; exit 1\n'
                                          if fails else 'cat "$d/dump"\n'))
    return run(bin_dir, script(scripts.load("nginx-serves.sh"),
                               args=["/etc/nginx", "production"]))


def test_nginx_serving_only_this_deployment_and_its_placeholder_says_nothing(bin_dir):
    ours = "upstream x {\n\tserver 127.0.0.1:20001;\n}\nserver {\n\tlisten 80;\n}\n"
    result = nginx_serves(bin_dir, {"/etc/nginx/conf.d/otter-production.conf": ours,
                                    "/etc/nginx/sites-enabled/default": DEBIAN_DEFAULT})
    assert result.ok and result.stdout == ""


def test_nginx_names_every_other_site(bin_dir):
    result = nginx_serves(bin_dir, {
        "/etc/nginx/conf.d/otter-production.conf": "server {\n}\n",
        "/etc/nginx/conf.d/otter-staging.conf": "server {\n}\n",
        "/etc/nginx/sites-enabled/default": DEBIAN_DEFAULT.replace("/var/www/html", "/srv"),
        "/etc/nginx/sites-enabled/shop": "server{\n\tlisten 8080;\n}\n",
        "/etc/nginx/mime.types": "types {\n\ttext/html html;\n}\n"})
    assert result.ok and result.stdout.splitlines() == [
        "otter's site of staging (/etc/nginx/conf.d/otter-staging.conf)",
        "/etc/nginx/sites-enabled/default", "/etc/nginx/sites-enabled/shop"]


def test_nginx_config_that_does_not_load_is_an_error(bin_dir):
    result = nginx_serves(bin_dir, {}, fails=True)
    assert result.exited == 1 and "unexpected end" in result.stderr


# --- the handover --------------------------------------------------------------------------

def handover(bin_dir: Path, old: str = "caddy", switch_exit: int = 0, forget: str = "",
             check: str = "true"):
    """The handover from `old` to nginx; the switch records itself and what it read, the
    old sites' removal (`forget`, a shell line) records itself unless given; `check` is
    nginx's validation of its config as it is."""
    switch = script('cat > "$1"; echo switch >> "$2"; exit "$3"',
                    args=[str(bin_dir / "site"), str(bin_dir / "calls"), str(switch_exit)])
    forget = forget or f"echo forgot >> {shlex.quote(str(bin_dir / 'calls'))}"
    return run(bin_dir, script(scripts.load("proxy-handover.sh"),
                               args=[old, "nginx", "80", forget, check, *switch.argv]),
               stdin="the new site\n")


def test_the_old_proxy_stops_the_new_one_starts_once_the_port_is_free(bin_dir):
    (bin_dir / "active-caddy").touch()
    (bin_dir / "busy").write_text("2")  # caddy still listens for two looks
    result = handover(bin_dir)
    assert result.exited == 0, result.stderr
    made = [c for c in calls(bin_dir) if not c.startswith("ss")]
    assert made == ["systemctl stop --no-block caddy", "switch",
                    "systemctl disable -q caddy", "systemctl enable -q nginx", "forgot"]
    assert calls(bin_dir).count("ss -Hltn sport = :80") == 3  # until nothing listens
    assert (bin_dir / "site").read_text() == "the new site\n"  # stdin reached the switch


def test_a_failed_switch_brings_the_old_proxy_back_and_keeps_its_site(bin_dir):
    (bin_dir / "active-caddy").touch()
    result = handover(bin_dir, switch_exit=5)
    assert result.exited == 5
    assert "nginx did not take over; caddy serves as before" in result.stderr
    made = [c for c in calls(bin_dir) if not c.startswith("ss")]
    assert made == ["systemctl stop --no-block caddy", "switch", "systemctl start caddy"]
    assert (bin_dir / "active-caddy").exists()


def test_a_new_proxy_whose_own_config_is_broken_never_stops_the_old_one(bin_dir):
    (bin_dir / "active-caddy").touch()
    result = handover(bin_dir, check='echo "nginx: [emerg] unexpected end of file" >&2; exit 1')
    assert result.exited == 4
    assert "nginx's own config does not load, so caddy keeps serving; nothing was changed" \
        in result.stderr and "unexpected end of file" in result.stderr
    assert calls(bin_dir) == [] and (bin_dir / "active-caddy").exists()


def test_an_old_proxy_that_does_not_stop_changes_nothing(bin_dir):
    (bin_dir / "active-caddy").touch()
    (bin_dir / "stop-fails").touch()
    result = handover(bin_dir)
    assert result.exited == 1 and "systemctl stop caddy failed; nothing was changed" in \
        result.stderr
    assert "switch" not in calls(bin_dir)


def test_a_stopped_old_proxy_only_loses_its_site(bin_dir):
    result = handover(bin_dir, old="")
    assert result.exited == 0, result.stderr
    assert calls(bin_dir) == ["switch", "systemctl enable -q nginx", "forgot"]


def test_a_site_that_cannot_be_removed_is_a_warning_after_the_switch(bin_dir):
    result = handover(bin_dir, old="", forget='echo "rm: denied" >&2; exit 1')
    assert result.exited == 0
    assert "otter: warning: nginx serves, but removing the old site failed: rm: denied" in \
        result.stderr


def test_the_scripts_are_shellcheck_clean():
    if not shutil.which("shellcheck"):
        pytest.fail("shellcheck is missing: apt-get install -y shellcheck")
    folder = Path(scripts.__file__).parent
    names = ["caddy-serves.sh", "nginx-serves.sh", "proxy-handover.sh"]
    result = LocalExecutor().run(cmd("shellcheck", "-s", "sh", *(str(folder / n)
                                                                   for n in names)))
    assert result.ok, result.stdout

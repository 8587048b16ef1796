"""TLS modes and the proxy itself: rendered sites per mode, nginx's certificate files shipped
(key 0600) and restored, the distribution's default site set aside for a no-domain site on
:80, and the ensure-proxy script run against fake tools (install, start, conflict)."""
from __future__ import annotations

import os
import re
import shutil
import stat
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from otterfile.load import model
from otterfile.proxies import NAMED, install as proxy_install
from otterfile.executors.local import LocalExecutor
from otterfile.proxies import caddy, nginx, nginx_tls
from otterfile.proxies.base import Site
from otterfile.load.validate import FieldError
from tests.unit.proxies import test_caddy, test_nginx
from tests.fakes import executable

pytestmark = pytest.mark.unit

SITE = Site("production", ("app.test",), 20001, None)
OPENSSL = shutil.which("openssl")


# -- Caddy: one site per mode ------------------------------------------------------------

def caddy_site(tls: str, hsts: bool = False) -> str:
    return caddy.PROXY.render(model.caddy(tls=tls, hsts=hsts), SITE)


def test_caddy_modes_render_auto_internal_off():
    page = "\timport /var/lib/otter/production/maintenance/caddy*\n\t# twice: "
    assert "app.test {\n\t# `otter maintenance" in caddy_site("auto")
    assert "app.test {\n\ttls internal\n\t# `otter maintenance" in caddy_site("internal")
    assert "http://app.test {\n\t# `otter maintenance" in caddy_site("off")
    assert all(page in caddy_site(tls) for tls in ("auto", "internal", "off"))
    assert "\t@otter_live file {\n" in caddy_site("off")


def test_caddy_hsts_only_where_tls_is_on():
    header = '\theader Strict-Transport-Security "max-age=31536000"\n'
    assert header in caddy_site("auto", hsts=True) and header in caddy_site("internal", True)
    assert header not in caddy_site("off", hsts=True) and header not in caddy_site("auto")
    with pytest.raises(FieldError) as error:
        caddy.PROXY.check(model.caddy(hsts="yes"))
    assert error.value.path == "hsts"


@test_caddy.needs_caddy
@pytest.mark.parametrize("tls", ["auto", "internal", "off"])
def test_caddy_validate_accepts_each_mode(test_caddy_host, tls):
    """`caddy validate` (no CA reachable: ACME is not contacted while validating)."""
    folder, _ = test_caddy_host
    result = test_caddy.run(test_caddy_host,
                            test_caddy.switching(folder, caddy_site(tls, hsts=True)))
    assert result.exited == 0, result.stderr


@pytest.fixture
def test_caddy_host(tmp_path):
    """test_caddy's temp caddy folder and PATH (the real caddy, a fake systemctl)."""
    folder, bin_dir = tmp_path / "etc-caddy", tmp_path / "bin"
    folder.mkdir()
    bin_dir.mkdir()
    (folder / "Caddyfile").write_text(test_caddy.MAIN)
    for tool in test_caddy.TOOLS + ["caddy"]:
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bin_dir / tool)
    executable(bin_dir / "systemctl", test_caddy.FAKE_SYSTEMCTL)
    return folder, bin_dir


# -- Caddy and nginx: the distribution's default site and a no-domain site on :80 ----------

DEBIAN_CADDYFILE = """# The Caddyfile is an easy way to configure your Caddy web server.
:80 {
\t# Set this path to your site's directory.
\troot * /usr/share/caddy

\t# Enable the static file server.
\tfile_server

\t# Another common task is to set up a reverse proxy:
\t# reverse_proxy localhost:8080
}

# Refer to the Caddy docs for more information:
"""


@test_caddy.needs_caddy
def test_caddy_no_domain_site_on_80_sets_the_default_site_aside(test_caddy_host):
    folder, _ = test_caddy_host
    (folder / "Caddyfile").write_text(DEBIAN_CADDYFILE)
    text = caddy.render_site("production", [], 20001, 80, "auto")
    clash = test_caddy.run(test_caddy_host, test_caddy.switching(folder, text))
    assert clash.exited == 4 and "ambiguous" in clash.stderr  # what happened before
    assert (folder / "Caddyfile").read_text() == DEBIAN_CADDYFILE
    done = test_caddy.run(test_caddy_host, test_caddy.switching(folder, text,
                                                        listen_port=80))
    assert done.exited == 0, done.stderr
    assert "set aside Caddy's default :80 site" in done.stdout
    main = (folder / "Caddyfile").read_text()
    assert "# otter: :80 {\n# otter: \t# Set this path" in main
    assert "\n# otter: \troot * /usr/share/caddy\n" in main
    assert "# otter: }\n" in main and main.startswith("# The Caddyfile")
    gone = test_caddy.run(test_caddy_host, caddy.remove_site("production", str(folder)))
    assert gone.exited == 0 and "restored Caddy's default :80 site" in gone.stdout
    assert (folder / "Caddyfile").read_text().startswith(DEBIAN_CADDYFILE)


@test_caddy.needs_caddy
def test_caddy_leaves_a_users_own_80_site_alone(test_caddy_host):
    folder, _ = test_caddy_host
    own = ':80 {\n\trespond "mine"\n}\n'
    (folder / "Caddyfile").write_text(own)
    text = caddy.render_site("production", [], 20001, 80, "auto")
    result = test_caddy.run(test_caddy_host, test_caddy.switching(folder, text,
                                                          listen_port=80))
    assert result.exited == 4 and (folder / "Caddyfile").read_text() == own
    assert not (folder / "otter.d" / "production.caddy").exists()


@pytest.fixture
def nginx_host(tmp_path):
    """test_nginx's temp nginx folder and PATH (fake nginx and systemctl)."""
    folder, bin_dir = tmp_path / "etc-nginx", tmp_path / "bin"
    (folder / "conf.d").mkdir(parents=True)
    bin_dir.mkdir()
    for tool in test_nginx.TOOLS:
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bin_dir / tool)
    conf = str(folder / "conf.d")
    test_nginx._tool(bin_dir, "nginx", f"#!/bin/sh\nconf='{conf}'\n{test_nginx.FAKE_NGINX}")
    test_nginx._tool(bin_dir, "systemctl", test_nginx.FAKE_SYSTEMCTL)
    return folder, bin_dir


def test_nginx_no_domain_site_on_80_sets_the_default_site_aside(nginx_host):
    folder, _ = nginx_host
    (folder / "sites-available").mkdir()
    (folder / "sites-available" / "default").write_text("server {}\n")
    (folder / "sites-enabled").mkdir()
    link = folder / "sites-enabled" / "default"
    link.symlink_to(folder / "sites-available" / "default")
    text = nginx.render_site("production", [], 20001, 80)
    assert "\tlisten 80 default_server;\n" in text
    done = test_nginx.run(nginx_host, test_nginx.switching(folder, text, listen_port=80))
    assert done.exited == 0, done.stderr
    assert not os.path.lexists(link) and "set aside nginx's default site" in done.stdout
    # a rejected config puts the link back
    link.symlink_to(folder / "sites-available" / "default")
    bad = test_nginx.run(nginx_host, test_nginx.switching(folder, text + "broken\n",
                                                          listen_port=80))
    assert bad.exited == 4 and os.path.islink(link)
    # removing the no-domain site brings the default site back
    os.unlink(link)
    gone = test_nginx.run(nginx_host, nginx.remove_site("production", str(folder)))
    assert gone.exited == 0 and "restored nginx's default site" in gone.stdout
    assert os.path.islink(link) and not (folder / "conf.d" / "otter-production.conf").exists()


# -- nginx: TLS with certificate files ------------------------------------------------------

def test_nginx_tls_renders_redirect_https_and_opt_in_hsts():
    value = nginx.PROXY.check(model.nginx(tls=("cert.pem", "key.pem")))
    text = nginx.PROXY.render(value, SITE)
    assert ("server {\n\tlisten 80;\n\tserver_name app.test;\n"
            "\treturn 301 https://$host$request_uri;\n}") in text
    assert ("\tlisten 443 ssl;\n\tserver_name app.test;\n"
            "\tssl_certificate /etc/nginx/otter-tls/production/cert.pem;\n"
            "\tssl_certificate_key /etc/nginx/otter-tls/production/key.pem;\n") in text
    assert "Strict-Transport-Security" not in text
    hsts = nginx.PROXY.render(replace(value, hsts=True), SITE)
    assert '\tadd_header Strict-Transport-Security "max-age=31536000" always;\n' in hsts


def test_nginx_host_paths_are_used_as_given():
    value = model.nginx(tls=("host:/etc/ssl/a.pem", "host:/etc/ssl/private/a.key"))
    text = nginx.PROXY.render(nginx.PROXY.check(value), SITE)
    assert "ssl_certificate /etc/ssl/a.pem;" in text
    assert "ssl_certificate_key /etc/ssl/private/a.key;" in text
    command = nginx.PROXY.switch(value, SITE, text, Path("/nonexistent"))
    assert command.stdin == text  # nothing shipped


@pytest.mark.parametrize("path", ["host:/etc/ssl/my cert.pem", "host:/etc/ssl/a\tb.pem",
                                  "host:etc/ssl/a.pem", "host:/etc/ssl/$host.pem"])
def test_a_host_path_nginx_would_split_is_an_otterfile_error(tmp_path, path):
    file = tmp_path / "Otterfile.py"
    file.write_text(f"""from otterfile import *

@deployment
def production():
    return Deployment(artifact=fetch("https://example.test/a.tgz", sha256="{'a' * 64}"),
                      runtime=systemd(command="./a {{port}}", port=8080),
                      targets=[ssh("root@web1")], domains=["app.test"],
                      proxy=nginx(tls=("host:/etc/ssl/ok.pem", {path!r})))
""")
    from click.testing import CliRunner
    from otterfile.cli import main
    result = CliRunner().invoke(main, ["-f", str(file), "plan", "production"])
    assert result.exit_code == 2, result.output
    assert f"error: {file}:3: deployment production/proxy/tls/1: {path!r}: a \"host:\" path " \
        "is an absolute path on the target without spaces" in result.output


def test_nginx_tls_needs_domains_and_files_that_are_pem(tmp_path):
    value = model.nginx(tls=("c.pem", "k.pem"))
    with pytest.raises(FieldError, match="needs domains"):
        nginx.PROXY.check_domains(value, ())
    with pytest.raises(FieldError) as error:
        nginx.PROXY.check_files(value, tmp_path)
    assert error.value.path == "tls/0" and "cannot read" in error.value.message
    (tmp_path / "c.pem").write_text("not a certificate\n")
    with pytest.raises(FieldError, match="not a PEM certificate"):
        nginx.PROXY.check_files(value, tmp_path)
    with pytest.raises(FieldError, match="both"):
        nginx.PROXY.check_files(model.nginx(tls=("host:/c.pem", "k.pem")), tmp_path)


def make_cert(folder: Path) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=app.test", "-addext", "subjectAltName=DNS:app.test",
                    "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    return cert, key


@pytest.mark.skipif(OPENSSL is None, reason="no openssl")
def test_nginx_switch_ships_cert_and_root_only_key_and_restores_them(nginx_host, tmp_path):
    folder, _ = nginx_host
    cert, key = make_cert(tmp_path)
    value = nginx.PROXY.check(model.nginx(tls=(cert.name, key.name)))
    text = nginx.render_site("production", ["app.test"], 20001, None,
                             nginx_tls.tls_paths("production", value.tls, str(folder)))
    proxied = nginx.PROXY.switch(value, SITE, text, tmp_path)  # reads the files
    command = replace(test_nginx.switching(folder, ""), stdin=proxied.stdin)
    assert "PRIVATE KEY" not in proxied.display()
    assert "PRIVATE KEY" not in command.display() and key.read_text() not in command.display()
    done = test_nginx.run(nginx_host, command)
    assert done.exited == 0, done.stderr
    shipped = folder / "otter-tls" / "production"
    assert (shipped / "cert.pem").read_text() == cert.read_text()
    assert (shipped / "key.pem").read_text() == key.read_text()
    assert stat.S_IMODE((shipped / "key.pem").stat().st_mode) == 0o600
    assert stat.S_IMODE(shipped.stat().st_mode) == 0o700
    assert test_nginx.served(folder) == text
    # a rejected next config brings back the previous certificate and key
    (tmp_path / "x").mkdir()
    other, other_key = make_cert(tmp_path / "x")
    bad = test_nginx.switching(folder, text + "broken\n",
                       cert=other.read_text(), key=other_key.read_text())
    assert test_nginx.run(nginx_host, bad).exited == 4
    assert (shipped / "key.pem").read_text() == key.read_text()
    assert sorted(os.listdir(shipped)) == ["cert.pem", "key.pem"]


@pytest.mark.skipif(OPENSSL is None, reason="no openssl")
def test_nginx_reloads_for_a_renewed_certificate_only(nginx_host, tmp_path):
    folder, bin_dir = nginx_host
    (bin_dir / "active").touch()
    cert, key = make_cert(tmp_path)
    text = test_nginx.live_site(folder, ("app.test",))

    def switch(port):
        done = test_nginx.run(nginx_host, test_nginx.switching(
            folder, text, port, cert=cert.read_text(), key=key.read_text()))
        assert done.exited == 0, done.stderr
        return done.stdout.splitlines()[-1]
    assert switch(20001).endswith("(reload)")
    assert switch(20002).endswith("(no reload)")
    make_cert(tmp_path)  # renewed: the same site text, new files
    assert switch(20003).endswith("(reload)")
    shipped = folder / "otter-tls" / "production"
    assert (shipped / "cert.pem").read_text() == cert.read_text()


@pytest.mark.skipif(OPENSSL is None or test_nginx.REAL_NGINX is None, reason="no nginx")
def test_real_nginx_accepts_the_tls_site(tmp_path):
    cert, key = make_cert(tmp_path)
    tls = nginx_tls.TlsPaths(str(cert), str(key))
    site = nginx.render_site("production", ["app.test"], 20001, None, tls, hsts=True)
    conf = tmp_path / "nginx.conf"
    conf.write_text(f"pid {tmp_path}/pid;\nerror_log stderr;\nevents {{}}\n"
                    f"http {{\n{site}\n}}\n")
    # -e: the compiled-in error log (/var/log/nginx) is not opened, so any user can test
    result = subprocess.run([test_nginx.REAL_NGINX, "-t", "-q", "-e", "stderr", "-c", str(conf),
                             "-p", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


# -- the proxy itself: installed, started, or a clear conflict ---------------------------

FAKE = r"""#!/bin/sh
d=$(dirname "$0"); echo "$(basename "$0") $*" >> "$d/calls"
"""


@pytest.fixture
def tools(tmp_path):
    """A PATH with fake ss, systemctl, apt-get (and the proxy binary when present)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ["sh", "awk", "sed", "grep", "head", "tail", "ls", "printf", "basename",
                 "dirname", "touch", "cp", "cat"]:
        if shutil.which(tool):
            os.symlink(shutil.which(tool), bin_dir / tool)

    def fake(name: str, body: str = "") -> None:
        executable(bin_dir / name, FAKE + body)

    fake("ss", 'cat "$d/listening" 2>/dev/null\n')
    fake("systemctl", 'case "$1" in is-active) [ -f "$d/active-$3" ] ;; '
                      'enable) touch "$d/active-$3" ;; esac\n')
    return bin_dir, fake


def ensure(tools, proxy="caddy", module=None):
    bin_dir, _ = tools
    rivals = [px.installed.unit for px in NAMED.values() if px.name != proxy]
    command = proxy_install.ensure(NAMED[proxy].installed, module=module,
                                   rivals=rivals + list(proxy_install.FOREIGN))
    return LocalExecutor().run(replace(command,
                                       env={"PATH": str(bin_dir)}))


def calls(tools) -> list[str]:
    file = tools[0] / "calls"
    return file.read_text().splitlines() if file.exists() else []


def test_running_proxy_is_left_alone(tools):
    bin_dir, fake = tools
    fake("caddy")
    (bin_dir / "active-caddy").touch()
    (bin_dir / "listening").write_text(
        'LISTEN 0 4096 *:80 *:* users:(("caddy",pid=7,fd=3))\n')
    result = ensure(tools)
    assert result.exited == 0 and result.stderr == ""
    assert not any(c.startswith(("apt-get", "systemctl enable")) for c in calls(tools))


def test_stopped_proxy_is_started(tools):
    bin_dir, fake = tools
    fake("caddy")
    result = ensure(tools)
    assert result.exited == 0 and "started caddy" in result.stderr
    assert "systemctl enable --now caddy" in calls(tools)


def test_missing_proxy_is_installed_noninteractively(tools):
    bin_dir, fake = tools
    fake("apt-get", '[ "$1" = install ] && cp "$d/sh-fake" "$d/nginx"; '
                    'echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND" >> "$d/calls"\n')
    executable(bin_dir / "sh-fake", FAKE)
    result = ensure(tools, "nginx")
    assert result.exited == 0, result.stderr
    assert "installed nginx" in result.stderr and "started nginx" in result.stderr
    made = calls(tools)
    assert "apt-get update -q" in made  # no package lists yet
    assert any(c.startswith("apt-get install -y -q") and c.endswith(" nginx") for c in made)
    assert "DEBIAN_FRONTEND=noninteractive" in made


NJS = "libnginx-mod-http-js"


def test_njs_is_installed_with_nginx_and_never_at_the_price_of_nginx(tools):
    bin_dir, fake = tools
    fake("nginx")
    (bin_dir / "active-nginx").touch()
    fake("dpkg-query", '[ -f "$d/njs" ] && echo "install ok installed"\n')
    fake("apt-get", '[ "$1" = install ] && touch "$d/njs"\n')
    result = ensure(tools, "nginx", NJS)
    assert result.exited == 0, result.stderr
    assert f"otter: installed {NJS} (nginx switches releases without a reload)" in \
        result.stderr
    install = [c for c in calls(tools) if c.startswith("apt-get install")]
    assert len(install) == 1 and install[0].endswith(f" --no-remove {NJS}")
    again = ensure(tools, "nginx", NJS)  # installed: apt is not asked again
    assert again.exited == 0 and again.stderr == ""
    assert len([c for c in calls(tools) if c.startswith("apt-get install")]) == 1


def test_njs_that_cannot_be_had_is_said_and_nginx_still_serves(tools):
    bin_dir, fake = tools
    fake("nginx")
    (bin_dir / "active-nginx").touch()
    fake("dpkg-query")
    fake("apt-get", '[ "$1" = install ] && { echo "E: Unable to locate package '
                    'libnginx-mod-http-js" >&2; exit 100; }\n')
    result = ensure(tools, "nginx", NJS)
    assert result.exited == 0
    assert f"otter: installing {NJS} with apt-get failed, so nginx switches by reload " \
        "here: E: Unable to locate package libnginx-mod-http-js" in result.stderr


def test_missing_proxy_without_apt_is_a_clear_error(tools):
    result = ensure(tools)
    assert result.exited == proxy_install.EXIT_PROXY
    assert "caddy is not installed and this host has no apt-get" in result.stderr


def test_failed_install_is_a_clear_error(tools):
    _, fake = tools
    fake("apt-get", 'echo "E: Unable to locate package caddy" >&2; exit 100\n')
    result = ensure(tools)
    assert result.exited == proxy_install.EXIT_PROXY
    assert "installing caddy with apt-get failed" in result.stderr
    assert "Unable to locate package" in result.stderr


@pytest.mark.parametrize("how", ["ss", "systemctl"])
def test_the_other_proxy_on_80_is_a_conflict(tools, how):
    bin_dir, fake = tools
    fake("nginx")
    if how == "ss":
        (bin_dir / "listening").write_text(
            'LISTEN 0 511 0.0.0.0:80 0.0.0.0:* users:(("caddy",pid=9,fd=6))\n')
    else:
        (bin_dir / "active-caddy").touch()
    result = ensure(tools, "nginx")
    assert result.exited == proxy_install.EXIT_PROXY
    assert "caddy is running here and owns ports 80/443, so nginx cannot serve" in \
        result.stderr
    assert not any(c.startswith(("apt-get", "systemctl enable")) for c in calls(tools))


def test_two_proxies_on_one_host_are_refused_before_anything_runs(tmp_path):
    from click.testing import CliRunner

    from otterfile.cli import main
    from tests.unit.load.test_validate import BASE, DEPLOY, SECOND
    other = DEPLOY.replace('domains=["app.test"]', 'domains=["b.test"], proxy=nginx()')
    marker = tmp_path / "built"
    file = tmp_path / "Otterfile.py"
    file.write_text(BASE.format(marker=marker) + SECOND.format(name="other", value=other))
    result = CliRunner().invoke(main, ["-f", str(file), "run", "production"], env={})
    assert result.exit_code == 2, result.output
    assert re.search(r"Otterfile\.py:\d+: deployment other/proxy: servers \(root@127\.0\.0\.1:1\) would "
                     r"run caddy for deployment production \(line \d+\) and nginx for other",
                     result.output), result.output
    assert not marker.exists()


@pytest.mark.skipif(OPENSSL is None, reason="no openssl")
def test_a_renewed_certificate_changes_the_release_fingerprint(tmp_path):
    value = model.nginx(tls=("cert.pem", "key.pem"))
    make_cert(tmp_path)
    first = nginx.PROXY.shipped_digest(value, tmp_path)
    assert first == nginx.PROXY.shipped_digest(value, tmp_path)
    make_cert(tmp_path)
    assert nginx.PROXY.shipped_digest(value, tmp_path) not in (None, first)
    assert nginx.PROXY.shipped_digest(model.nginx(), tmp_path) is None
    assert caddy.PROXY.shipped_digest(model.caddy(), tmp_path) is None

"""TLS modes and the proxy itself, on the real test hosts: HTTPS with Caddy's internal CA,
nginx with a test certificate, the http->https redirect and HSTS, the proxy installed when
missing and started when stopped, the other proxy refused with nothing changed, and a
no-domain site on port 80 in place of the distribution's default site."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from tests.integration.deploy import DOMAIN, on, otter, served, write_app, write_otterfile

OPENSSL = shutil.which("openssl")


def https(target, *curl: str) -> subprocess.CompletedProcess:
    """curl to the target's published 443 as https://app.test (SNI and Host app.test)."""
    port = target.https_port
    return subprocess.run(["curl", "-sS", "--max-time", "10", "--resolve",
                           f"{DOMAIN}:{port}:127.0.0.1", *curl, f"https://{DOMAIN}:{port}/"],
                          capture_output=True, text=True, timeout=30)


def issuer(target) -> str:
    """The issuer of the certificate the target presents for app.test."""
    got = subprocess.run([OPENSSL, "s_client", "-connect", f"127.0.0.1:{target.https_port}",
                          "-servername", DOMAIN], input="", capture_output=True, text=True,
                         timeout=30)
    pem = got.stdout[got.stdout.find("-----BEGIN CERTIFICATE-----"):]
    return subprocess.run([OPENSSL, "x509", "-noout", "-issuer"], input=pem,
                          capture_output=True, text=True, timeout=30).stdout


def http(target, host: str = DOMAIN) -> httpx.Response:
    return httpx.get(target.url("/"), headers={"Host": host}, timeout=5)


def make_cert(folder: Path) -> None:
    subprocess.run([OPENSSL, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={DOMAIN}", "-addext", f"subjectAltName=DNS:{DOMAIN}",
                    "-keyout", str(folder / "key.pem"), "-out", str(folder / "cert.pem")],
                   check=True, capture_output=True)


def stop_caddy(target) -> None:
    assert on(target, "systemctl", "stop", "caddy").ok


pytestmark = pytest.mark.skipif(OPENSSL is None or shutil.which("curl") is None,
                                reason="needs openssl and curl on the controller")


def test_caddy_internal_serves_https_with_its_own_ca_and_redirects(tmp_path, clean_target):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, [clean_target], proxy='caddy(tls="internal", hsts=True)')
    run = otter(tmp_path, "run", "production")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Caddy Local Authority" in issuer(clean_target)
    untrusted = https(clean_target)
    assert untrusted.returncode == 60  # not trusted until its CA is
    got = https(clean_target, "-k", "-i")
    assert got.returncode == 0 and got.stdout.rstrip().endswith("v1"), got.stderr
    assert "strict-transport-security: max-age=31536000" in got.stdout.lower()
    plain = http(clean_target)
    assert plain.status_code == 308 and plain.headers["location"] == f"https://{DOMAIN}/"
    site = on(clean_target, "cat", "/etc/caddy/otter.d/production.caddy").stdout
    assert "tls internal" in site
    assert on(clean_target, "caddy", "validate", "--config", "/etc/caddy/Caddyfile").ok


def test_caddy_auto_config_validates_without_a_reachable_ca(tmp_path, clean_target):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, [clean_target], proxy='caddy(tls="auto")')
    run = otter(tmp_path, "run", "production")
    assert run.returncode == 0, run.stdout + run.stderr  # the switch ran `caddy validate`
    site = on(clean_target, "cat", "/etc/caddy/otter.d/production.caddy").stdout
    assert f"\n{DOMAIN} {{\n" in site and "tls" not in site.split("{", 1)[1]
    assert on(clean_target, "caddy", "validate", "--config", "/etc/caddy/Caddyfile").ok


def test_nginx_serves_the_shipped_test_certificate_with_a_root_only_key(tmp_path,
                                                                        clean_target):
    stop_caddy(clean_target)
    make_cert(tmp_path)
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, [clean_target],
                    proxy='nginx(tls=("cert.pem", "key.pem"), hsts=True)')
    run = otter(tmp_path, "run", "production")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "started nginx" in run.stdout
    # verified against the test certificate itself: the right cert, for app.test
    got = https(clean_target, "--cacert", str(tmp_path / "cert.pem"), "-i")
    assert got.returncode == 0 and got.stdout.rstrip().endswith("v1"), got.stderr
    assert "strict-transport-security: max-age=31536000" in got.stdout.lower()
    plain = http(clean_target)
    assert plain.status_code == 301 and plain.headers["location"] == f"http://{DOMAIN}/" \
        .replace("http:", "https:")
    mode = on(clean_target, "stat", "-c", "%a %U", "/etc/nginx/otter-tls/production/key.pem")
    assert mode.stdout.split() == ["600", "root"]
    assert on(clean_target, "nginx", "-t").ok
    assert "BEGIN" not in run.stdout + run.stderr  # no certificate or key in the output


def test_the_other_proxy_running_is_refused_and_nothing_changes(tmp_path, clean_target):
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, [clean_target], proxy="nginx()")
    run = otter(tmp_path, "run", "production")
    assert run.returncode == 1
    said = run.stdout + run.stderr
    # a one-host target is shown by its target's name
    assert "servers: " in said and \
        "caddy is running here and owns ports 80/443, so nginx cannot serve" in said
    assert on(clean_target, "systemctl", "is-active", "nginx").stdout.strip() == "inactive"
    assert on(clean_target, "systemctl", "is-active", "caddy").stdout.strip() == "active"
    assert on(clean_target, "docker", "ps", "-aq", "--filter",
              "label=otter.deployment").stdout.strip() == ""
    assert not on(clean_target, "test", "-e", "/etc/nginx/conf.d/otter-production.conf").ok


def test_a_stopped_caddy_is_started(tmp_path, clean_target):
    stop_caddy(clean_target)
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, [clean_target])
    run = otter(tmp_path, "run", "production")
    assert run.returncode == 0, run.stdout + run.stderr
    assert "started caddy" in run.stdout and served(clean_target) == "200 v1"


def test_a_missing_caddy_is_installed_with_apt(tmp_path, clean_target):
    purge = on(clean_target, "apt-get", "purge", "-y", "-q", "caddy")
    assert purge.ok and not on(clean_target, "test", "-e", "/usr/bin/caddy").ok, purge.stderr
    write_app(tmp_path / "app", "v1")
    write_otterfile(tmp_path, [clean_target])
    run = otter(tmp_path, "run", "production", timeout=600)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "installed caddy" in run.stdout and served(clean_target) == "200 v1"
    assert on(clean_target, "systemctl", "is-active", "caddy").stdout.strip() == "active"


@pytest.mark.parametrize("proxy", ['caddy(tls="off")', "nginx()"])
def test_a_no_domain_site_on_port_80_replaces_the_default_site(tmp_path, clean_target, proxy):
    if proxy.startswith("nginx"):
        stop_caddy(clean_target)
    app = write_app(tmp_path / "app", "v1")
    dockerfile = app / "Dockerfile"
    dockerfile.write_text(dockerfile.read_text().replace("8080", "80"))
    path = write_otterfile(tmp_path, [clean_target], proxy=proxy)
    path.write_text(path.read_text().replace("port=8080", "port=80")
                    .replace(f'domains=["{DOMAIN}"]', "domains=[]"))
    if proxy.startswith("caddy"):  # Debian's placeholder page answers first
        assert "v1" not in http(clean_target, "any-name.test").text
    run = otter(tmp_path, "run", "production")
    assert run.returncode == 0, run.stdout + run.stderr
    for name in ("any-name.test", "127.0.0.1"):
        answer = http(clean_target, name)
        assert (answer.status_code, answer.text.strip()) == (200, "v1")
    check = ["nginx", "-t"] if proxy.startswith("nginx") else \
        ["caddy", "validate", "--config", "/etc/caddy/Caddyfile"]
    assert on(clean_target, *check).ok

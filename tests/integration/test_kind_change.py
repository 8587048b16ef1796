"""A deployment that changes its runtime or proxy kind, on a real test host: podman to docker,
docker to systemd and back, Caddy to nginx and back. Each proves the old instance is gone
(stopped by the runtime that started it), the old site is gone, the new release serves,
status names what runs it, a rollback across the change works (the old release started by
its own runtime) or is refused before anything changes, and `remove` leaves nothing."""
from __future__ import annotations

import json
import time
from pathlib import Path

from tests.integration.deploy import (APP_TAG, DOMAIN, events, on, otter, served,
                                      write_app)
from tests.integration.load import Load, Site
from tests.integration.test_systemd_deploy import SERVER

OTTERFILE = '''
from otterfile import *

HOSTS = {hosts!r}

@deployment
def production():
    return Deployment(artifact=ARTIFACT, runtime=RUNTIME, proxy=PROXY,
                      targets=[ssh(a, identity_file=k, known_hosts=h) for a, k, h in HOSTS],
                      domains=["{domain}"], keep_releases=3,
                      health_check=HealthCheck(path="/health", timeout_seconds=10))
'''
IMAGE = f'build(path="app", command="docker build -q -t {APP_TAG} .")'
FILE = 'build(path="svc", command="tar czf app.tar.gz server.py VERSION", ' \
       'output="app.tar.gz")'
ENV = '{"GREETING": "hello"}'
RUNTIMES = {"docker": f"docker(port=8080, env={ENV})", "podman": f"podman(port=8080, env={ENV})",
            "systemd": f'systemd(command="python3 server.py --port {{port}}", port=8080, '
                       f'env={ENV})'}
SITES = {"caddy": "/etc/caddy/otter.d/production.caddy",
         "nginx": "/etc/nginx/conf.d/otter-production.conf"}
CADDY_OFF = 'caddy(tls="off")'


def write(project: Path, target, version: str, runtime: str, proxy: str = CADDY_OFF) -> None:
    """The app at `version` (an image, or a tarball for systemd) and its Otterfile."""
    if runtime == "systemd":
        (project / "svc").mkdir(parents=True, exist_ok=True)
        (project / "svc" / "server.py").write_text(SERVER)
        (project / "svc" / "VERSION").write_text(version + "\n")
    else:
        write_app(project / "app", version)
    hosts = [(target.host.address, target.host.identity_file, target.host.known_hosts)]
    text = OTTERFILE.format(hosts=hosts, domain=DOMAIN)
    text = text.replace("ARTIFACT", FILE if runtime == "systemd" else IMAGE) \
        .replace("RUNTIME", RUNTIMES[runtime]).replace("PROXY", proxy)
    (project / "Otterfile.py").write_text(text)


def run(project: Path, *args: str):
    result = otter(project, *args)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def answers(target) -> str:
    """What the proxy answers for the app, as `200 VERSION` (systemd's app says more)."""
    return " ".join(served(target).split()[:2])


def containers(target, engine: str) -> list[str]:
    listed = on(target, engine, "ps", "-a", "--format", "{{.Names}}").stdout.split()
    return [name for name in listed if name.startswith("otter-production-")]


def units(target) -> list[str]:
    found = on(target, "sh", "-c", "ls /etc/systemd/system | grep '^otter-production@'")
    return found.stdout.split()


def sites(target) -> list[str]:
    return [kind for kind, path in SITES.items() if on(target, "test", "-e", path).ok]


def releases(target) -> dict[str, tuple[str, str, str]]:
    """Release id -> (runtime, proxy, status) from the target's releases.json."""
    text = on(target, "cat", "/var/lib/otter/production/releases.json").stdout
    return {r["id"]: (r["runtime"], r["proxy"], r["status"])
            for r in json.loads(text)["releases"]}


def status(project: Path) -> dict:
    (record,) = [e for e in events(run(project, "--json", "status", "production").stdout)
                 if e.get("event") == "status"]
    return record


def active(target, unit: str) -> str:
    return on(target, "systemctl", "is-active", unit).stdout.strip()


def enabled(target, unit: str) -> str:
    return on(target, "systemctl", "is-enabled", unit).stdout.strip()


def has_image(target, engine: str, digest: str) -> bool:
    ref = digest.split(":", 1)[1] if engine == "podman" else digest
    return on(target, engine, "image", "inspect", ref).ok


def assert_nothing_left(target, digests: dict[str, str]) -> None:
    """No instance of any kind, no site, no state (a systemd release's data folder is the
    user's: it stays); each artifact gone from its store."""
    assert containers(target, "docker") == [] and containers(target, "podman") == []
    assert units(target) == [] and sites(target) == []
    left = on(target, "ls", "-A", "/var/lib/otter/production").stdout.split()
    assert left in ([], ["data"]), left
    for digest, kind in digests.items():
        if kind == "systemd":
            path = f"/var/lib/otter/artifacts/sha256/{digest.split(':')[1]}"
            assert not on(target, "test", "-e", path).ok, digest
        else:
            assert not has_image(target, kind, digest), (kind, digest)


def digests(target) -> dict[str, str]:
    text = on(target, "cat", "/var/lib/otter/production/releases.json").stdout
    return {r["digest"]: r["runtime"] for r in json.loads(text)["releases"]}


def test_podman_to_docker_and_a_rollback_back_to_podman(tmp_path, clean_target):
    t = clean_target
    write(tmp_path, t, "v1", "podman")
    run(tmp_path, "run", "production")
    # as an older otter wrote it: no kinds; its release is found where its instance runs
    assert on(t, "sed", "-i", '/"runtime"/d; /"proxy"/d',
              "/var/lib/otter/production/releases.json").ok
    write(tmp_path, t, "v2", "docker")
    moved = run(tmp_path, "run", "production")
    assert "names no runtime for 1 release(s) (an older otter wrote it): 1 podman (its " \
           "instance is there)" in moved.stdout
    assert answers(t) == "200 v2"
    assert containers(t, "podman") == [] and len(containers(t, "docker")) == 1
    (v1, v2) = releases(t)
    assert releases(t) == {v1: ("podman", "caddy", "previous"), v2: ("docker", "caddy", "live")}
    now = status(tmp_path)
    assert now["live"]["release"] == v2 and now["live"]["runtime"] == "docker"
    assert now["live"]["running"] and now["runtimes"] == {v1: "podman", v2: "docker"}
    assert f"{v1} (podman)" in run(tmp_path, "status", "production").stdout

    back = run(tmp_path, "rollback", "production")  # the Otterfile still says docker()
    assert answers(t) == "200 v1"
    assert len(containers(t, "podman")) == 1 and containers(t, "docker") == []
    assert status(tmp_path)["live"]["runtime"] == "podman", back.stdout
    kept = digests(t)
    assert set(kept.values()) == {"podman", "docker"}

    run(tmp_path, "remove", "production", "--yes")
    assert_nothing_left(t, kept)


def test_docker_to_systemd_a_refused_rollback_and_back_to_docker(tmp_path, clean_target):
    t = clean_target
    write(tmp_path, t, "v1", "docker")
    run(tmp_path, "run", "production")
    write(tmp_path, t, "v2", "systemd")
    run(tmp_path, "run", "production")
    assert answers(t) == "200 v2"
    assert containers(t, "docker") == [] and len(units(t)) == 1
    assert active(t, units(t)[0]) == "active"
    now = status(tmp_path)
    assert now["live"]["runtime"] == "systemd" and now["live"]["running"]

    before = on(t, "cat", "/var/lib/otter/production/releases.json").stdout
    refused = otter(tmp_path, "rollback", "production")
    assert refused.returncode == 1
    said = refused.stdout + refused.stderr
    assert "was started by docker, and the Otterfile's runtime is systemd(...)" in said
    assert "nothing was changed" in said and "put docker(...) back in the Otterfile" in said
    assert answers(t) == "200 v2" and len(units(t)) == 1 and containers(t, "docker") == []
    assert on(t, "cat", "/var/lib/otter/production/releases.json").stdout == before

    write(tmp_path, t, "v3", "docker")  # back: the unit is stopped and removed by systemd
    run(tmp_path, "run", "production")
    assert answers(t) == "200 v3"
    assert units(t) == [] and len(containers(t, "docker")) == 1
    assert on(t, "sh", "-c", "systemctl list-units --all --plain --no-legend "
                             "'otter-production@*' | wc -l").stdout.strip() == "0"
    kept = digests(t)
    assert set(kept.values()) == {"docker", "systemd"}
    run(tmp_path, "remove", "production", "--yes")
    assert_nothing_left(t, kept)


def test_caddy_to_nginx_and_back_hands_the_ports_over(tmp_path, clean_target):
    t = clean_target
    write(tmp_path, t, "v1", "docker")
    run(tmp_path, "run", "production")
    assert answers(t) == "200 v1" and sites(t) == ["caddy"]

    # Caddy serves a site otter does not own: moving to nginx would stop it, so nothing moves
    on(t, "cp", "/etc/caddy/Caddyfile", "/etc/caddy/Caddyfile.kind-change")
    assert on(t, "sh", "-c", "printf 'shop.test {\\n\\trespond shop\\n}\\n' >> "
                             "/etc/caddy/Caddyfile && systemctl reload caddy").ok
    write(tmp_path, t, "v2", "docker", "nginx()")
    refused = otter(tmp_path, "run", "production")
    assert refused.returncode == 1
    assert "caddy serves this deployment and more, so it cannot hand ports 80/443 over to " \
           "nginx; nothing was changed" in refused.stdout + refused.stderr
    assert "Caddyfile line" in refused.stdout + refused.stderr
    assert answers(t) == "200 v1" and sites(t) == ["caddy"]
    assert active(t, "caddy") == "active" and active(t, "nginx") != "active"
    assert on(t, "mv", "/etc/caddy/Caddyfile.kind-change", "/etc/caddy/Caddyfile").ok
    assert on(t, "systemctl", "reload", "caddy").ok

    # nginx does not start once Caddy has stopped (masked): Caddy comes back, old release live
    assert on(t, "systemctl", "mask", "nginx").ok
    failed = otter(tmp_path, "run", "production")
    assert on(t, "systemctl", "unmask", "nginx").ok
    assert failed.returncode == 1
    assert "nginx did not take over; caddy serves as before" in failed.stdout + failed.stderr
    assert answers(t) == "200 v1" and sites(t) == ["caddy"]
    assert (active(t, "caddy"), enabled(t, "caddy")) == ("active", "enabled")
    assert [status for _, _, status in releases(t).values()] == ["live", "failed"]
    assert len(containers(t, "docker")) == 1

    with Load([Site(DOMAIN, [t], rate=20, slow=2)]) as load:
        run(tmp_path, "run", "production")
        moved = time.monotonic()
    report = load.report()
    assert answers(t) == "200 v2" and sites(t) == ["nginx"]
    assert (active(t, "nginx"), enabled(t, "nginx")) == ("active", "enabled")
    assert (active(t, "caddy"), enabled(t, "caddy")) == ("inactive", "disabled")
    assert report.bodies() <= {"v1", "v2", ""} and "v2" in report.bodies()
    assert all(s.status in (0, 200) for s in report.samples), report.summary()  # never a 5xx
    failed = [s for s in report.samples if not s.ok and s.started < moved]
    if failed:  # requests the old proxy had taken before it stopped listening finished
        gap = failed[0].started
        for slow in report.spanning(gap):
            assert slow.ok or slow.started > gap - 0.5, report.summary()
    print(f"caddy -> nginx handover: {len(failed)} of {len(report.samples)} requests "
          f"refused; {report.summary()}")
    assert status(tmp_path)["live"]["proxy"] == "nginx"

    run(tmp_path, "rollback", "production")
    assert answers(t) == "200 v1" and sites(t) == ["nginx"]

    write(tmp_path, t, "v3", "docker", CADDY_OFF)  # and back to Caddy
    run(tmp_path, "run", "production")
    assert answers(t) == "200 v3" and sites(t) == ["caddy"]
    assert (active(t, "caddy"), enabled(t, "caddy")) == ("active", "enabled")
    assert (active(t, "nginx"), enabled(t, "nginx")) == ("inactive", "disabled")
    live = status(tmp_path)["live"]
    assert (live["runtime"], live["proxy"]) == ("docker", "caddy")
    assert len(containers(t, "docker")) == 1
    kept = digests(t)
    run(tmp_path, "remove", "production", "--yes")
    assert_nothing_left(t, kept)
    assert active(t, "caddy") == "active"  # the proxy itself stays for other deployments

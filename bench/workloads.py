"""W1-W7 (issue 14) as cases per tool; each function gets the runner and its hosts."""
from __future__ import annotations

import os
import subprocess
import sys

from . import otter_side as otter
from .cases import Case, events, parallel, round_trips, sh, stage_seconds
from .competitors import (CADDYFILE, CADDYFILE_W6, FABRIC_W1, FABRIC_W2, PYINFRA_W1,
                          PYINFRA_W2, PYINFRA_W4, PYINFRA_W6, UNIT)
from .stats import Measured


def _m(workload, case, hosts, **kw) -> Measured:
    return Measured(workload, case, len(hosts), **kw)


def _bin(run, tool: str) -> str:
    return str(run.venv / "bin" / tool)


def w1(run, hosts) -> list[Case]:
    kit, W = run.kit(hosts), "W1 20 commands"
    loop = []
    for h in hosts:
        cp = str(kit.work / f"cm-{h.port}")
        ssh = h.ssh_argv("-o", f"ControlPath={cp}")
        master = h.ssh_argv("-o", "ControlMaster=yes", "-o", f"ControlPath={cp}",
                            "-o", "ControlPersist=yes", "-f", "-N")
        loop.append(f"{sh(master)}; for i in $(seq 20); do {sh(ssh)} echo $i >/dev/null; done; "
                    f"{sh(ssh + ['-O', 'exit'])} 2>/dev/null")
    twenty = "; ".join(f"echo {i}" for i in range(20))
    one = [f"{sh(h.ssh_argv())} {sh([twenty])} >/dev/null" for h in hosts]
    book = kit.playbook("w1.yml", [f"command: echo {i}" for i in range(20)])
    cases = [Case(_m(W, "OpenSSH: one ControlMaster per host, 20 calls", hosts, floor=True),
                  parallel(loop)),
             Case(_m(W, "OpenSSH: all 20 in one call", hosts), parallel(one)),
             Case(_m(W, "Fabric ThreadingGroup", hosts),
                  [_bin(run, "python"), str(kit.fabric("w1_fab.py", FABRIC_W1))]),
             Case(_m(W, "pyinfra -y", hosts),
                  [_bin(run, "pyinfra"), "-y", str(kit.pyinfra_inventory),
                   str(kit.write("w1_pyinfra.py", PYINFRA_W1))]),
             Case(_m(W, "Ansible (tuned)", hosts), [_bin(run, "ansible-playbook"), str(book)],
                  env=kit.ansible_env)]
    small = run.tarball(1)
    with_step = otter.systemd_project(kit.work / "otter-w1-step", hosts, small, step=True)
    if otter.can("run", "--only"):
        cases.append(Case(_m(W, "otter run --only (20 ctx.run)", hosts),
                          otter.argv(with_step, "run", "production", "--only", "twenty"),
                          env=otter.env()))
        return cases
    plain = otter.systemd_project(kit.work / "otter-w1-plain", hosts, small)
    a = _m(W, "otter: no-op redeploy + step of 20 ctx.run", hosts,
           note="no `run --only` yet: a whole no-op redeploy with the step")
    b = _m(W, "otter: the same no-op redeploy without the step", hosts)
    run.differences.append((_m(W, "otter: the step alone (difference of the two)", hosts,
                               note="estimate: median of per-round differences"), a, b))
    cases += [Case(a, otter.argv(with_step, "run", "production"), env=otter.env()),
              Case(b, otter.argv(plain, "run", "production"), env=otter.env())]
    return cases


def w2(run, hosts) -> list[Case]:
    kit, W = run.kit(hosts), "W2 50 MB upload"
    big = run.tarball(50)
    clean = lambda: run.on_all(hosts, "rm -f /tmp/bench-w2.bin")  # noqa: E731
    book = kit.playbook("w2.yml", [f"copy: src={big[0]} dest=/tmp/bench-w2.bin"])
    ship = _m(W, "otter: ship stage of a first systemd deploy (longest host)", hosts,
              note="fetch(file://) artifact; from --json stage times")
    project = otter.systemd_project(kit.work / "otter-w2", hosts, big)
    return [
        Case(_m(W, "OpenSSH: ssh host 'cat > f' < file", hosts, floor=True),
             parallel([f"{sh(h.ssh_argv())} 'cat > /tmp/bench-w2.bin' < {big[0]}"
                       for h in hosts]), setup=clean),
        Case(_m(W, "Fabric Connection.put in threads", hosts),
             [_bin(run, "python"), str(kit.fabric("w2_fab.py", FABRIC_W2)), str(big[0])],
             setup=clean),
        Case(_m(W, "pyinfra files.put -y", hosts),
             [_bin(run, "pyinfra"), "-y", str(kit.pyinfra_inventory),
              str(kit.write("w2_pyinfra.py", PYINFRA_W2.format(src=str(big[0]))))],
             setup=clean),
        Case(_m(W, "Ansible copy (tuned)", hosts), [_bin(run, "ansible-playbook"), str(book)],
             env=kit.ansible_env, setup=clean),
        Case(_m(W, "otter: whole first deploy (acquire..retire)", hosts),
             otter.argv(project, "--json", "run", "production"), env=otter.env(),
             setup=lambda: run.reset(hosts), derive=[(ship, stage_seconds("ship"))]),
    ], [ship]


def w3(run) -> list[Case]:
    W, one = "W3 start-up", [None]
    return [Case(Measured(W, "python3 -c pass", 0, floor=True), [sys.executable, "-c", "pass"]),
            Case(Measured(W, "ssh -V", 0), ["ssh", "-V"]),
            Case(Measured(W, "otter --help", 0), otter.argv(otter.ROOT / "x", "--help"),
                 env=otter.env()),
            Case(Measured(W, "pyinfra --help", 0), [_bin(run, "pyinfra"), "--help"]),
            Case(Measured(W, "fab --help", 0), [_bin(run, "fab"), "--help"]),
            Case(Measured(W, "ansible-playbook --version", 0),
                 [_bin(run, "ansible-playbook"), "--version"])], one


def exec_cases(run, hosts, W: str, warm: bool = False) -> list[Case]:
    """`otter exec -- true`: cold (otter's kept masters ended before each run) and warm (the
    master the run before kept), against parallel `ssh true`, pyinfra and Python's start-up.
    With `warm`, also OpenSSH over kept masters (the warm floor)."""
    kit = run.kit(hosts)
    project = otter.systemd_project(kit.work / "otter-exec", hosts, run.tarball(1))
    otter.compiled()  # as installed: byte code cached (this machine sets PYTHONDONTWRITEBYTECODE)
    sockets = kit.work / "run"  # otter's kept masters of this case: XDG_RUNTIME_DIR/otter-ssh
    sockets.mkdir(mode=0o700, exist_ok=True)
    env = {**otter.env(), "XDG_RUNTIME_DIR": str(sockets)}
    exec_true = otter.argv(project, "exec", "production", "--", "true")
    cases = [Case(_m(W, "OpenSSH: parallel ssh true", hosts, floor=True),
                  parallel([sh(h.ssh_argv()) + " true" for h in hosts])),
             Case(_m(W, "python3 -c pass (start-up)", hosts), [sys.executable, "-c", "pass"]),
             Case(_m(W, "pyinfra exec -y -- true", hosts),
                  [_bin(run, "pyinfra"), "-y", str(kit.pyinfra_inventory), "exec", "--", "true"]),
             Case(_m(W, "otter exec -- true, cold (no kept master)", hosts), exec_true, env=env,
                  setup=lambda: otter.end_masters(sockets / "otter-ssh")),
             Case(_m(W, "otter exec -- true, warm (master kept by the run before)", hosts),
                  exec_true, env=env)]
    if warm:
        for h in hosts:  # a kept master per host: the warm floor
            cp = str(kit.work / f"keep-{h.port}")
            run.background(h.ssh_argv("-o", "ControlMaster=yes", "-o", f"ControlPath={cp}",
                                      "-o", "ControlPersist=120", "-f", "-N"))
        cases.insert(1, Case(_m(W, "OpenSSH: parallel ssh true over kept masters", hosts),
                             parallel([sh(h.ssh_argv("-o", f"ControlPath={kit.work}/keep-{h.port}"))
                                       + " true" for h in hosts])))
    return cases


CURVE = "curve25519-sha256"  # paramiko's (pyinfra's) key exchange; OpenSSH's default costs 3x


def w6_noop(run, hosts) -> list[Case]:
    """The no-op redeploy on systemd hosts (light, up to 50; exec_cases runs on sshd-only
    hosts) beside its floor, one ssh per host checking the same state (cold, and over kept
    masters as otter's own runs have them), and pyinfra ensuring the same state. Before
    the rounds otter deploys, then one no-op under --debug counts its round trips per host
    (the note says whether every host took the one-trip path, run/noop.py)."""
    W, kit = "W6 no-op redeploy (systemd)", run.kit(hosts)
    tarball = run.tarball(1)
    project = otter.systemd_project(kit.work / "otter-noop", hosts, tarball)
    pyinfra_w6 = kit.write("w6_pyinfra.py", PYINFRA_W6.format(
        tarball=str(tarball[0]), unit=str(kit.write("bench-pyinfra.service", UNIT)),
        caddyfile=str(kit.write("Caddyfile-w6", CADDYFILE_W6))))
    check = sh([f"test -e /var/lib/otter/artifacts/sha256/{tarball[1]} && "
                "test -f /etc/caddy/otter.d/production.caddy && systemctl is-active -q caddy && "
                "test -n \"$(systemctl list-units --state=running --no-legend "
                "'otter-production@*')\""])
    for h in hosts:  # a kept master per host, as otter keeps its own between runs
        run.background(h.ssh_argv("-o", "ControlMaster=yes", "-o",
                                  f"ControlPath={kit.work}/keep-{h.port}",
                                  "-o", "ControlPersist=300", "-f", "-N"))
    sockets = kit.work / "run"  # otter's kept masters of this case: XDG_RUNTIME_DIR/otter-ssh
    sockets.mkdir(mode=0o700, exist_ok=True)
    env = {**otter.env(), "XDG_RUNTIME_DIR": str(sockets)}
    noop = _m(W, "otter no-op redeploy, warm (masters kept by the run before)", hosts,
              note=noop_trips(project, hosts, env))
    kex = kit.work / "otter-noop-kex" / "Otterfile.py"  # the same, with pyinfra's key exchange
    kex.parent.mkdir(exist_ok=True)
    kex.write_text(project.read_text().replace(
        "known_hosts=known)", f"known_hosts=known, kex={CURVE!r})"))
    kex_trips = noop_trips(kex, hosts, env)  # its own key kept: one trip in the timed runs
    # its masters are not the default's (otter's control path is per set of options): the
    # warm case follows the cold one of the same Otterfile
    return [Case(_m(W, "OpenSSH: one ssh per host checking the same state", hosts, floor=True,
                    note="artifact, Caddy site, caddy and the release's unit running"),
                 parallel([f"{sh(h.ssh_argv())} {check}" for h in hosts])),
            Case(_m(W, "OpenSSH: the same with curve25519-sha256", hosts),
                 parallel([f"{sh(h.ssh_argv('-o', f'KexAlgorithms={CURVE}'))} {check}"
                           for h in hosts])),
            Case(_m(W, "OpenSSH: the same over kept masters", hosts),
                 parallel([f"{sh(h.ssh_argv('-o', f'ControlPath={kit.work}/keep-{h.port}'))} "
                           f"{check}" for h in hosts])),
            Case(_m(W, "otter no-op redeploy, cold, ssh(kex=\"curve25519-sha256\")", hosts,
                    note=f"pyinfra's (paramiko's) key exchange; {kex_trips}"),
                 otter.argv(kex, "run", "production"), env=env,
                 setup=lambda: otter.end_masters(sockets / "otter-ssh")),
            Case(_m(W, "otter no-op redeploy, cold (no kept master)", hosts,
                    note="OpenSSH's default key exchange, as the floor"),
                 otter.argv(project, "run", "production"), env=env,
                 setup=lambda: otter.end_masters(sockets / "otter-ssh")),
            Case(noop, otter.argv(project, "run", "production"), env=env),
            Case(_m(W, "pyinfra -y ensuring the same state", hosts,
                    note="put tarball (sha1 check), unpack-if-missing, unit file, "
                         "service running, Caddy site, caddy running"),
                 [_bin(run, "pyinfra"), "-y", str(kit.pyinfra_inventory), str(pyinfra_w6)])]


def noop_trips(project, hosts, env: dict[str, str]) -> str:
    """Deploy (untimed), then one no-op with --debug: how many hosts took one round trip."""
    def otter_run(*flags: str) -> str:
        done = subprocess.run(otter.argv(project, *flags, "run", "production"), text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600,
                              env={**os.environ, **env, "PYTHONUNBUFFERED": "1"})
        if done.returncode != 0:
            raise RuntimeError(f"otter run exited {done.returncode}: {done.stdout[-300:]}")
        return done.stdout
    otter_run()
    said = otter_run("--debug", "--json")
    # the hosts as the run names them (a one-host target's host goes by the target's name)
    names = sorted({str(e["host"]) for e in events(said)
                    if e.get("host") and e["host"] != "controller"})
    trips = round_trips(said, names if len(names) == len(hosts) else
                        [f"127.0.0.1:{h.port}" for h in hosts])
    one = sum(1 for n in trips.values() if n == 1)
    decided = len({e.get("host") for e in events(said)
                   if "decided on the target" in str(e.get("message"))})
    spread = "" if one == len(hosts) else f" (trips per host: {sorted(trips.values())})"
    return (f"--debug before the rounds: {one} of {len(hosts)} hosts in one round trip, "
            f"{decided} decided on the target{spread}")


def w4_w5(run, hosts) -> list[Case]:
    """Docker on full hosts: first deploy, one-layer change, no-op; by hand; pyinfra."""
    kit, W5, W4 = run.kit(hosts), "W5 docker deploy (30 MB image)", "W4 no-op redeploy"
    images = run.docker_images()
    project = run.docker_project(kit.work / "otter-docker", hosts)
    by_hand = lambda tag: parallel([  # noqa: E731
        f"docker save {tag} | {sh(h.ssh_argv())} docker load >/dev/null && "
        f"{sh(h.ssh_argv())} 'docker rm -f bench-hand >/dev/null 2>&1; docker run -d --name "
        f"bench-hand --label otter.deployment=bench -p 127.0.0.1:29997:8080 {tag}' >/dev/null"
        for h in hosts])
    caddy = kit.write("Caddyfile", CADDYFILE)
    pyinfra_w4 = kit.write("w4_pyinfra.py", PYINFRA_W4.format(
        archive=str(images["archive"]), image=images["v1"], caddyfile=str(caddy)))
    reset = lambda: run.reset(hosts, full=True)  # noqa: E731
    return [
        Case(_m(W5, "by hand: docker save | ssh docker load, ssh docker run", hosts, floor=True),
             by_hand(images["v1"]), setup=reset),
        Case(_m(W5, "by hand: the one-layer change (whole image again)", hosts),
             by_hand(images["v2"])),
        Case(_m(W5, "otter first deploy", hosts), otter.argv(project, "run", "production"),
             env=otter.env(), setup=lambda: (reset(), run.app_version(project, "v1"))),
        Case(_m(W5, "otter one-layer change", hosts), otter.argv(project, "run", "production"),
             env=otter.env(), setup=lambda: run.app_version(project, "v2")),
        Case(_m(W4, "OpenSSH: one ssh per host (docker ps + test -f)", hosts, floor=True),
             parallel([sh(h.ssh_argv()) + " 'test -n \"$(docker ps -q --filter "
                       "label=otter.deployment)\" && test -f /etc/caddy/Caddyfile'"
                       for h in hosts])),
        Case(_m(W4, "otter no-op redeploy", hosts), otter.argv(project, "run", "production"),
             env=otter.env()),
        Case(_m(W4, "pyinfra -y ensuring the same state", hosts,
                note="put image archive (sha1 check), load-if-missing, docker.container, "
                     "Caddyfile, caddy running"),
             [_bin(run, "pyinfra"), "-y", str(kit.pyinfra_inventory), str(pyinfra_w4)],
             setup=lambda: run.quiet([_bin(run, "pyinfra"), "-y", str(kit.pyinfra_inventory),
                                      str(pyinfra_w4)])),
    ]


def w5_systemd(run, hosts) -> list[Case]:
    """The systemd deploy of a 50 MB tarball, first and repeated, against doing it by hand."""
    kit, W = run.kit(hosts), "W5 systemd deploy (50 MB tarball)"
    big = run.tarball(50)
    project = otter.systemd_project(kit.work / "otter-w5", hosts, big)
    unit = "otter-bench-hand"
    hand = parallel([
        f"{sh(h.ssh_argv())} 'rm -rf /srv/hand && mkdir -p /srv/hand && tar -xzf - -C /srv/hand'"
        f" < {big[0]} && {sh(h.ssh_argv())} 'systemctl stop {unit} 2>/dev/null; "
        f"systemd-run --quiet --unit {unit} --collect -p WorkingDirectory=/srv/hand "
        f"python3 server.py --port 18080'" for h in hosts])
    return [Case(_m(W, "by hand: ssh tar -x < tarball, ssh systemd-run", hosts, floor=True),
                 hand, setup=lambda: run.reset(hosts)),
            Case(_m(W, "by hand again", hosts), hand),
            Case(_m(W, "otter first deploy", hosts), otter.argv(project, "run", "production"),
                 env=otter.env(), setup=lambda: run.reset(hosts)),
            Case(_m(W, "otter repeated (no-op)", hosts), otter.argv(project, "run", "production"),
                 env=otter.env())]

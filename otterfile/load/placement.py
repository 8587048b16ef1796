"""Where an Otterfile's declarations land on hosts, checked before anything runs: every host
under its one name in the run (targets and hosts given inline alike), `build(on=TARGET)`
resolved to that target's one host (its address while evaluating, its name once hosts are
named), and deployments that share a host checked for one proxy kind per host and no domain
or port claimed twice. Errors name the Otterfile's file and the deployment's line."""
from __future__ import annotations

from dataclasses import replace

from otterfile.errors import OtterfileError
from otterfile.host_names import Declared, name_hosts
from otterfile.load.project import ArtifactDef, DeploymentDef, TargetDef
from otterfile.load.validate import fail

Named = tuple[dict[str, ArtifactDef], dict[str, TargetDef], dict[str, DeploymentDef]]


def named(file: str, artifacts: dict[str, ArtifactDef], targets: dict[str, TargetDef],
          deployments: dict[str, DeploymentDef]) -> Named:
    """Every host under its one name in the run (host_names.name_hosts), everywhere."""
    defined = {id(t) for t in targets.values()}  # the others: hosts given inline
    declared: list[Declared] = [(t.name, f"target {t.name}", t.line, t.hosts)
                                for t in targets.values()]
    declared += [(None, f"deployment {d.name}", d.line, t.hosts)
                 for d in deployments.values() for t in d.targets if id(t) not in defined]
    try:
        names = name_hosts(declared)
    except OtterfileError as error:
        raise OtterfileError(error.message, file=file, line=error.line) from None

    def rename(target: TargetDef) -> TargetDef:
        hosts = tuple(h.named(names[h.address]) for h in target.hosts)
        name = target.name if id(target) in defined else hosts[0].name
        return replace(target, name=name, hosts=hosts)
    return ({n: on_named(a, names) for n, a in artifacts.items()},
            {n: rename(t) for n, t in targets.items()},
            {n: replace(d, targets=tuple(rename(t) for t in d.targets),
                        artifact=on_named(d.artifact, names))
             for n, d in deployments.items()})


def check_shared_hosts(file: str, deployments: list[DeploymentDef]) -> None:
    """Two deployments on one host may not claim the same domain, nor (without domains)
    the same port, nor run different proxies: found here, before anything runs, naming both."""
    claimed: dict[tuple[str, str], DeploymentDef] = {}
    proxies: dict[str, DeploymentDef] = {}  # one proxy owns 80/443 on a host
    for dep in deployments:
        for host in dep.hosts:
            other = proxies.setdefault(host.name, dep)
            if other.proxy_declared is not dep.proxy_declared:
                raise OtterfileError(
                    f"{host.introduced()} would run {other.proxy_declared.name} for deployment "
                    f"{other.name} (line {other.line}) and {dep.proxy_declared.name} for "
                    f"{dep.name}; one proxy owns ports 80/443 on a host: choose one",
                    file=file, line=dep.line, path=f"deployment {dep.name}/proxy")
        claims = [f"domain {d}" for d in dep.domains] or \
            [f"port {dep.runtime.declared.port(dep.runtime.value)} (no domains)"]
        for host in dep.hosts:
            for claim in claims:
                other = claimed.setdefault((host.address, claim), dep)
                if other is not dep:
                    raise OtterfileError(
                        f"{claim} on {host.name} is claimed by deployment {other.name} "
                        f"(line {other.line}) and by {dep.name}", file=file,
                        line=dep.line, path=f"deployment {dep.name}/domains")


def build_host(art: ArtifactDef, targets: dict[str, TargetDef]) -> ArtifactDef:
    """build(on=TARGET): TARGET is a one-host target of this Otterfile; `on` becomes that
    host's address here and its name once hosts are named (on_named)."""
    on = art.declared.build_host(art.source)
    if on is None:
        return art
    target = targets.get(on)
    if target is None:
        fail("on", f"unknown target {on!r}; known: {', '.join(sorted(targets)) or 'none'}")
    if len(target.hosts) != 1:
        fail("on", f"target {on!r} is a group of {len(target.hosts)} hosts; a build runs on "
             "one: name a target of one host")
    return replace(art, source=art.declared.built_on(art.source, target.hosts[0].address))


def on_named(art: ArtifactDef, names: dict[str, str]) -> ArtifactDef:
    """A build host's address -> its name in the run (what the plan and engine call it)."""
    on = art.declared.build_host(art.source)
    return art if on is None else replace(art, source=art.declared.built_on(art.source, names[on]))

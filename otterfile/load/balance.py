"""`Deployment(balance="local" | "fleet")`: with "fleet", each target's proxy forwards to the
healthy live releases of every target of the deployment, its own first. What a fleet
deployment needs is checked here, when the Otterfile is evaluated, before anything runs:
every refusal names the field and touches nothing."""
from __future__ import annotations

from otterfile.hosts import LocalHost
from otterfile.load.project import DeploymentDef
from otterfile.load.validate import fail

BALANCES = ("local", "fleet")
FLEET = "balance=\"fleet\""


def check_balance(dep: DeploymentDef) -> None:
    """A FieldError naming the field when `dep` is a fleet deployment that cannot be one."""
    if not dep.fleet:
        return
    if dep.recreate:
        fail("strategy", f"{FLEET} serves each target from the others' releases while its "
             "own is replaced; strategy=\"recreate\" runs one instance and no proxy list: "
             "use one or the other")
    if len(dep.hosts) < 2:
        fail("targets", f"{FLEET} forwards to the other targets of the deployment; "
             f"{dep.name} has one target: use balance=\"local\" or give more targets")
    if dep.parallel is not None or dep.canary:
        field = "canary" if dep.canary else "parallel"
        fail(field, f"{FLEET} switches every target before any old release retires; a "
             "rolling or canary deploy would retire releases the other proxies still "
             f"name: leave out {field}=")
    if dep.on_failure == "rollback":
        fail("on_failure", f"{FLEET}: a failed run retires no old release anywhere, so the "
             "proxies keep every release they name; rolling back some targets alone would "
             "leave the others' proxies naming releases of another version: leave out "
             "on_failure=\"rollback\" (roll back with `otter rollback NAME`)")
    if not dep.runtime.declared.publishes_privately():
        fail("runtime", f"{FLEET} publishes each release's port on the target's private "
             f"address; the {dep.runtime.declared.name} runtime's service binds where its "
             "command says, which otter does not control: use docker(...) or podman(...)")
    for index, target in enumerate(dep.targets):
        for host in target.hosts:
            name = target.name if len(target.hosts) == 1 else host.name
            if isinstance(host, LocalHost):
                fail(f"targets/{index}", f"{FLEET}: {name} is local(), which the other "
                     "targets cannot reach; use ssh(...) targets")
            if host.private_address() is None:
                fail(f"targets/{index}", f"{FLEET}: the other targets cannot reach {name} "
                     f"at {host.address} (a name or loopback); give the IP address they "
                     "reach it at: ssh(..., private=\"10.0.0.5\")")

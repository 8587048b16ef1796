"""The one name each host has in a run, and what a name given on the command line means:
`name_hosts` names every host of a project (its `name=`, else its one-host target's name,
else its address; two servers under one name are an error), `spelled` reads a host as a user
typed it, and `chosen` turns `--targets` items into host names.
"""
from __future__ import annotations

from typing import Iterable, Mapping, Sequence

from otterfile.errors import OtterfileError
from otterfile.hosts import Host, SSHHost, ssh


def spelled(name: str) -> str:
    """A host as a user typed it on the command line, named as otter names a host in a
    group (`root@H:22` is `h`); a target name or anything else is left as it is."""
    try:
        return ssh(name).name
    except OtterfileError:
        return name


# (target name or None, where: "target all", line, hosts)
Declared = tuple[str | None, str, int, Sequence[Host]]


def name_hosts(declared: Iterable[Declared]) -> dict[str, str]:
    """address -> name for every host of (target name, where, line, hosts), in declaration
    order (target name None: hosts given inline in a deployment).

    A server has one name in a run: its `name=`, else the name of a one-host target that
    holds it, else its address; the first declared wins. Two servers under one name are an
    error naming both (its line: the second's)."""
    ranked: dict[str, tuple[int, str, str, int]] = {}  # address -> (rank, name, where, line)
    for target, where, line, hosts in declared:
        for host in hosts:
            if host.given_name:
                rank, name = 0, host.name
            elif target is not None and len(hosts) == 1:
                rank, name = 1, target
            else:
                rank, name = 2, host.name
            if host.address not in ranked or rank < ranked[host.address][0]:
                ranked[host.address] = (rank, name, where, line)
    owners: dict[str, tuple[str, str, int]] = {}  # name -> (address, where, line)
    for address, (_, name, where, line) in ranked.items():
        other = owners.setdefault(name, (address, where, line))
        if other[0] != address:
            raise OtterfileError(
                f"two hosts are both named {name!r}: {other[0]} ({other[1]}, line {other[2]}) "
                f"and {address} ({where}, line {line}); give one of them a name with "
                f"ssh(..., name=...)", line=line)
    return {address: name for address, (_, name, _, _) in ranked.items()}


def chosen(given: Iterable[str], hosts: Iterable[Host],
           targets: Mapping[str, Iterable[Host]]) -> list[str]:
    """The host names `--targets` items mean: each item as given, plus the hosts it names as
    a target (all of a group), or as an address spelled any way (`root@H:22`, `h`)."""
    hosts, out = list(hosts), []
    for item in given:
        out += [item] + [h.name for h in targets.get(item, ())]
        try:
            wanted = ssh(item)
        except OtterfileError:
            continue
        out += [h.name for h in hosts if isinstance(h, SSHHost)
                and (h.hostname, h.port) == (wanted.hostname, wanted.port)
                and wanted.user in (None, h.user)]
    return list(dict.fromkeys(out))

"""Deployment(balance="fleet") and ssh(private=): what a fleet deployment is refused for,
at evaluation (an Otterfile error naming the field, nothing run), and what it carries."""
from __future__ import annotations

import pytest

from otterfile import ssh
from otterfile.errors import OtterfileError
from otterfile.hosts import local
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@target("web-1")
def web_1():
    return {one}

@target("web-2")
def web_2():
    return {two}

@deployment
def production():
    return Deployment(artifact=registry("app:1"), runtime={runtime},
                      targets={targets}, domains=["app.example.com"],
                      {balance}{extra})
'''

ONE, TWO = 'ssh("root@203.0.113.10")', 'ssh("root@web-2.example", private="10.0.0.6")'


def project(otterfile, extra="", one=ONE, two=TWO, runtime="docker(port=8080)",
            targets='["web-1", "web-2"]', balance='balance="fleet"'):
    return evaluate(load(str(otterfile(FILE.format(one=one, two=two, runtime=runtime,
                                                   targets=targets, extra=extra,
                                                   balance=balance)))))


def test_a_fleet_deployment_carries_its_balance_and_addresses(otterfile):
    dep = project(otterfile).deployments["production"]
    assert dep.fleet and dep.balance == "fleet"
    assert [h.private_address() for h in dep.hosts] == ["203.0.113.10", "10.0.0.6"]


def test_local_is_the_default(otterfile):
    dep = project(otterfile, targets='["web-1"]', balance="keep_releases=5") \
        .deployments["production"]
    assert dep.balance == "local" and not dep.fleet


@pytest.mark.parametrize("kwargs, path, said", [
    ({"balance": 'balance="everywhere"'}, "balance", "expected one of 'local', 'fleet'"),
    ({"extra": ', strategy="recreate"'}, "strategy", 'strategy="recreate" runs one instance'),
    ({"targets": '["web-1"]'}, "targets", "production has one target"),
    ({"extra": ", parallel=1"}, "parallel", "leave out parallel="),
    ({"extra": ', parallel="50%"'}, "parallel", "leave out parallel="),
    ({"extra": ", canary=True"}, "canary", "leave out canary="),
    ({"extra": ', on_failure="rollback"'}, "on_failure", 'leave out on_failure="rollback"'),
    ({"one": "local()"}, "targets", "web-1 is local(), which the other targets cannot reach"),
    ({"one": 'ssh("root@web-1.example")'}, "targets",
     'cannot reach web-1 at root@web-1.example (a name or loopback)'),
    ({"one": 'ssh("root@127.0.0.1:2201")'}, "targets", "a name or loopback"),
    ({"runtime": 'systemd(command="./serve {port}", port=8080)'}, "runtime",
     "the systemd runtime's service binds where its command says"),
])
def test_what_a_fleet_is_refused_for_names_the_field(otterfile, kwargs, path, said):
    with pytest.raises(OtterfileError) as error:
        project(otterfile, **kwargs)
    assert f"deployment production/{path}" in str(error.value)
    assert said in str(error.value) and "Otterfile.py:" in str(error.value)


def test_loopback_with_private_is_a_fleet_member(otterfile):
    """The test hosts' case: reached over a 127.0.0.1 port, the others reach it elsewhere."""
    dep = project(otterfile, one='ssh("root@127.0.0.1:2201", private="172.18.0.2")') \
        .deployments["production"]
    assert dep.hosts[0].private_address() == "172.18.0.2"


def test_private_is_an_ip_address_kept_apart_from_the_address():
    host = ssh("deploy@web-2.example:2222", private="10.0.0.6")
    assert (host.address, host.private_address()) == ("deploy@web-2.example:2222", "10.0.0.6")
    assert ssh("root@[fd00::7]", private="[fd00::6]").private_address() == "fd00::6"
    assert ssh("root@10.0.0.9").private_address() == "10.0.0.9"
    assert ssh("root@web.example").private_address() is None
    assert ssh("root@127.0.0.1:2201").private_address() is None
    assert local().private_address() is None


@pytest.mark.parametrize("private", ["web-2.internal", "127.0.0.1", "::1", "0.0.0.0", "",
                                     "10.0.0.256", 5])
def test_a_bad_private_address_names_the_field(private):
    with pytest.raises(OtterfileError) as error:
        ssh("root@web-2.example", private=private)  # type: ignore[arg-type]
    assert error.value.path == "private" and "not a name, not loopback" in error.value.message

"""Hosts are shown as people named them: a one-host target by its name, a host in a group by
`name=` or its address; one name per server in a run, two servers under one name an error."""
import pytest

from otterfile.errors import OtterfileError
from otterfile.load.evaluate import evaluate
from otterfile.host_names import name_hosts
from otterfile.hosts import local, ssh
from otterfile.load.loader import load
from otterfile.plan.planner import plan

HEAD = '''
from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app .")
'''
DEPLOY = '''
@deployment
def production():
    return Deployment(artifact=web, runtime=docker(port=80), targets={targets})
'''


def project_of(otterfile, targets: str, extra: str = ""):
    return evaluate(load(otterfile(HEAD + extra + DEPLOY.format(targets=targets))))


def names(project, deployment="production"):
    return [(h.name, h.address) for h in project.deployments[deployment].hosts]


@pytest.mark.parametrize("address, name", [
    ("root@web1.example.com", "web1.example.com"),
    ("root@web1.example.com:22", "web1.example.com"),
    ("deploy@Web1:2222", "web1:2222"),
    ("10.0.0.5", "10.0.0.5"),
    ("root@[2001:db8::1]:2222", "[2001:db8::1]:2222"),
    ("root@[2001:db8::1]", "2001:db8::1"),
])
def test_an_address_names_a_host_without_user_and_default_port(address, name):
    assert ssh(address).name == name


def test_the_address_keeps_user_and_port():
    assert ssh("deploy@web1:2222").address == "deploy@web1:2222"
    assert ssh("web1:22").address == "web1"
    assert ssh("web1", name="front").name == "front"


def test_a_host_says_how_a_known_hosts_file_names_it():
    assert ssh("root@Web1:2222", known_hosts="~/k").known_host() == ("[web1]:2222", "~/k")
    assert ssh("root@[2001:db8::1]:22").known_host() == ("2001:db8::1", None)
    assert local().known_host() is None


def test_a_one_host_target_is_named_by_the_target(otterfile):
    project = project_of(otterfile, '["t1", "t2"]', '''
@target
def t1():
    return ssh("root@127.0.0.1:2201")

@target("t2")
def second():
    return ssh("root@127.0.0.1:2202")
''')
    assert names(project) == [("t1", "root@127.0.0.1:2201"), ("t2", "root@127.0.0.1:2202")]
    graph = plan(project, ["production"])
    assert "production/start@t1" in graph.tasks and graph.hosts() == ["t1", "t2"]


def test_a_group_names_hosts_by_address_or_name(otterfile):
    project = project_of(otterfile, '[pair]', '''
@target
def pair():
    return [ssh("root@a.example:22"), ssh("root@b.example:2222", name="bee"), local()]
''')
    assert names(project) == [("a.example", "root@a.example"),
                              ("bee", "root@b.example:2222"), ("local", "local")]


def test_name_given_to_ssh_wins_over_the_target_name(otterfile):
    project = project_of(otterfile, '["t1"]', '''
@target
def t1():
    return ssh("root@a", name="front")
''')
    assert names(project) == [("front", "root@a")]


def test_one_server_has_one_name_everywhere(otterfile):
    project = project_of(otterfile, '["everything"]', '''
@target
def everything():
    return [ssh("root@a"), ssh("root@b")]

@target
def primary():
    return ssh("root@a")

@deployment
def db():
    return Deployment(artifact=web, runtime=docker(port=81), targets=["primary"])
''')
    assert names(project) == [("primary", "root@a"), ("b", "root@b")]
    assert names(project, "db") == [("primary", "root@a")]
    assert [h.name for h in project.targets["everything"].hosts] == ["primary", "b"]


def test_inline_hosts_are_named_by_address(otterfile):
    project = project_of(otterfile, '[ssh("root@c:2200")]')
    assert names(project) == [("c:2200", "root@c:2200")]


def test_two_servers_under_one_name_is_an_error_naming_both(otterfile):
    with pytest.raises(OtterfileError) as caught:
        project_of(otterfile, '["front", "back"]', '''
@target
def front():
    return ssh("root@a")

@target
def back():
    return [ssh("root@b", name="front")]
''')
    error = caught.value
    assert "two hosts are both named 'front'" in error.message
    assert "root@a (target front, line 8)" in error.message
    assert "root@b (target back, line 12)" in error.message
    assert error.line == 12 and error.file.endswith("Otterfile.py")


def test_two_users_of_one_server_in_a_group_clash():
    with pytest.raises(OtterfileError, match="both named 'a': root@a .* and deploy@a"):
        name_hosts([("g", "target g", 3, (ssh("root@a"), ssh("deploy@a")))])


def test_one_server_spelled_twice_is_not_a_clash():
    assert name_hosts([(None, "deployment d", 3, (ssh("root@A:22"), ssh("root@a")))]) == \
        {"root@a": "a"}


@pytest.mark.parametrize("bad", ["controller", "-x", "a b", "", 5])
def test_bad_host_names_are_refused(bad):
    with pytest.raises(OtterfileError, match="name"):
        ssh("root@a", name=bad)
    with pytest.raises(OtterfileError, match="name"):
        local(bad)


def test_list_shows_names_and_addresses(otterfile):
    from click.testing import CliRunner
    from otterfile.cli import main
    path = otterfile(HEAD + '''
@target
def pair():
    return [ssh("root@a"), ssh("deploy@b:2222", name="bee")]

@target
def solo():
    return ssh("root@c")
''' + DEPLOY.format(targets='[pair, solo]'))
    result = CliRunner().invoke(main, ["-f", str(path), "list"])
    assert result.exit_code == 0, result.output
    rows = {line.split()[1]: line.split(None, 2)[2] for line in result.output.splitlines()
            if line.startswith("target")}
    assert rows == {"pair": "root@a, bee (deploy@b:2222)", "solo": "root@c"}


def test_targets_option_takes_names_addresses_and_groups(otterfile):
    from otterfile.cli.common import split_targets
    project = project_of(otterfile, '["t1", "pair"]', '''
@target
def t1():
    return ssh("root@127.0.0.1:2201")

@target
def pair():
    return [ssh("root@b:2202"), ssh("deploy@c", name="cee")]
''')
    assert split_targets("t1", project) == ["t1"]
    assert "t1" in split_targets("root@127.0.0.1:2201", project)
    assert "t1" in split_targets("127.0.0.1:2201", project)
    assert "t1" not in split_targets("admin@127.0.0.1:2201", project)
    assert {"b:2202", "cee"} <= set(split_targets("pair", project))
    assert "cee" in split_targets("deploy@C:22", project)
    graph = plan(project, ["production"], hosts=split_targets("root@127.0.0.1:2201", project))
    assert graph.hosts() == ["t1"]

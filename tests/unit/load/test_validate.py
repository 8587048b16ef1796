"""Bad input, run through the real command line: each case exits 2 with the Otterfile
named (and its line or the field path), shows no traceback, and runs nothing: no build,
no SSH, no cache folder."""
from __future__ import annotations

import re

import pytest
from click.testing import CliRunner

from otterfile.cli import main

pytestmark = pytest.mark.unit

BASE = '''from otterfile import *

@artifact
def web():
    return build(path=".", command="touch {marker} && docker build -t app .")

@runtime
def box():
    return docker(port=8080, env={{"A": "1"}})

@target
def servers():
    return [ssh("root@127.0.0.1:1", host_key_checking="accept-new")]

@deployment("production")
def production():
    return Deployment(artifact=web, runtime=box, targets=[servers], domains=["app.test"])
'''
DEPLOY = 'Deployment(artifact=web, runtime=box, targets=[servers], domains=["app.test"])'
BOX = 'docker(port=8080, env={"A": "1"})'
HOST = 'ssh("root@127.0.0.1:1", host_key_checking="accept-new")'
SECOND = '''
@deployment("{name}")
def second():
    return {value}
'''

# (case, what to replace -> with what, a regex the error must match)
CASES = [
    ("name with a slash", ('@deployment("production")', '@deployment("a/b")'),
     r":\d+: .*deployment name 'a/b'"),
    ("name ..", ('@deployment("production")', '@deployment("..")'), r"deployment name '\.\.'"),
    ("name with a space", ('@deployment("production")', '@deployment("my app")'),
     r"deployment name 'my app'"),
    ("name with a newline", ('@deployment("production")', '@deployment("a\\nb")'),
     r"deployment name 'a\\nb'"),
    ("Deployment(name=) bad", (DEPLOY, DEPLOY[:-1] + ', name="x/y")'), r"'x/y'"),
    ("carriage return in env", (BOX, 'docker(port=8080, env={"A": "1\\r"})'),
     r"runtime box/env/A: .*carriage return"),
    ("options not splittable", (BOX, 'docker(port=8080, options=["--label \'x"])'),
     r"runtime box/options/0: cannot split"),
    ("command not splittable", (BOX, 'docker(port=8080, command="echo \'x")'),
     r"runtime box/command: cannot split"),
    ("control character in health path",
     (DEPLOY, DEPLOY[:-1] + ', health_check=HealthCheck(path="/he\\x01alth"))'),
     r"health_check/path: expected a URL path"),
    ("space in health path", (DEPLOY, DEPLOY[:-1] + ', health_check={"path": "/a b"})'),
     r"health_check/path"),
    ("build without a tag", ('docker build -t app .', 'docker build .'),
     r"artifact web/command: cannot tell which image"),
    ("one domain twice", ('domains=["app.test"]', 'domains=["a.test", "A.test."]'),
     r"domains/1: 'A.test.' is domains/0 again"),
    ("one domain in two deployments on a host", ("", SECOND.format(name="other", value=DEPLOY)),
     r"domain app\.test on servers is claimed by deployment production"),
    ("two no-domain sites on one port",
     ('domains=["app.test"]', "domains=[]"),
     r"port 8080 \(no domains\) on servers is claimed",
     SECOND.format(name="other", value=DEPLOY.replace('domains=["app.test"]', "domains=[]"))),
    ("a host starting with -", (HOST, 'ssh("-oProxyCommand=x")'), r"malformed ssh address"),
    ("local(-x)", (HOST, 'local("-x")'), r"target servers/name: expected a name"),
    ("a host named controller", (HOST, 'ssh("h", name="controller")'),
     r"target servers/name: 'controller' names where otter runs"),
    ("two hosts under one name", (HOST, 'ssh("root@a"), ssh("deploy@a")'),
     r"two hosts are both named 'a': root@a \(target servers, line \d+\) and deploy@a"),
    ("known_hosts with a quote", (HOST, 'ssh("h", known_hosts=\'a"b\')'), r"known_hosts"),
    ("a token written in the file",
     ('build(path=".", ', 'build(repo="https://git.example/a.git", token="ghp_x", '),
     r"artifact web/token: expected secret"),
    ("bad tls", ('domains=["app.test"])', 'domains=["app.test"], proxy=caddy(tls="on"))'),
     r"proxy/tls: expected one of"),
    ("keep_releases 0", ('domains=["app.test"])', 'domains=["app.test"], keep_releases=0)'),
     r"keep_releases: expected an int"),
    ("parallel 0%", ('domains=["app.test"])', 'domains=["app.test"], parallel="0%")'),
     r"parallel: expected a count"),
    ("a negative drain", ('domains=["app.test"])', 'domains=["app.test"], drain_seconds=-1)'),
     r"drain_seconds: expected a number of at least 0"),
    ("a negative min_ready_seconds",
     (DEPLOY, DEPLOY[:-1] + ', health_check=HealthCheck(min_ready_seconds=-1))'),
     r":\d+: deployment production/health_check/min_ready_seconds: expected a number of at "
     r"least 0, got -1$"),
    ("min_ready_seconds not a number",
     (DEPLOY, DEPLOY[:-1] + ', health_check={"min_ready_seconds": "5s"})'),
     r":\d+: deployment production/health_check/min_ready_seconds: .*got '5s'$"),
    ("min_ready_seconds a bool",
     (DEPLOY, DEPLOY[:-1] + ', health_check=HealthCheck(min_ready_seconds=True))'),
     r":\d+: deployment production/health_check/min_ready_seconds: .*got True$"),
    ("init that is not a bool", (BOX, 'docker(port=8080, init="yes")'), r"runtime box/init"),
    ("a port that is not a number", (BOX, 'docker(port="abc")'), r"runtime box/port"),
    ("a runtime that is not one", (BOX, '"docker"'), r"runtime box: expected docker"),
    ("a bad secret name", (BOX, 'docker(port=8080, env={"A": secret("1x")})'),
     r"secret name must be an identifier"),
    ("steps before and after", ("", '''
@step(deployment="production", before="switch", after="start")
def both(ctx):
    pass
'''), r"give exactly one of before=STAGE or after=STAGE"),
    ("a step name with a newline", ("", '''
@step("evil\\nname [x]", deployment="production", before="switch")
def evil(ctx):
    pass
'''), r":\d+: step name 'evil\\nname \[x\]'"),
    ("a step anchored nowhere", ("", '''
@step(deployment="production", before="nowhere")
def lost(ctx):
    pass
'''), r"before='nowhere' is neither a stage"),
    ("a registry reference with a URL scheme",
     ('return build(path=".", command=', 'return registry("http://registry.test/app:1") or '
      'build(path=".", command='),
     r"artifact web/ref: 'http://registry.test/app:1': an image reference has no URL scheme"),
    ("a registry password written in the file",
     ('return build(path=".", command=', 'return registry("registry.test/app:1", '
      'username="u", password="hunter2") or build(path=".", command='),
     r"artifact web/password: expected secret\(\"NAME\"\)"),
    ("nginx tls files missing",
     ('domains=["app.test"])', 'domains=["app.test"], proxy=nginx(tls=("c.pem", "k.pem")))'),
     r"deployment production/proxy/tls/0: cannot read .*c\.pem"),
    ("a syntax error", ("@runtime", "@runtime(\n"), r":\d+: syntax error"),
    ("an exception at top level", ("", "\nraise ValueError('no')\n"), r":\d+: ValueError: no"),
    ("a missing secret", (BOX, 'docker(port=8080, env={"A": secret("NOT_SET_ANYWHERE")})'),
     r"deployment production/runtime/env/A: secret NOT_SET_ANYWHERE is not set"),
]


def write(tmp_path, case) -> tuple:
    marker = tmp_path / "built"
    text = BASE.format(marker=marker)
    old, new = case[1]
    if old:
        assert old in text, case[0]
        text = text.replace(old, new, 1)
    else:
        text += new
    if len(case) > 3:
        text += case[3]
    file = tmp_path / "Otterfile.py"
    file.write_text(text)
    return file, marker


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_exits_2_names_the_place_and_runs_nothing(tmp_path, case):
    file, marker = write(tmp_path, case)
    result = CliRunner().invoke(main, ["-f", str(file), "run", "production"], env={})
    assert result.exit_code == 2, result.output
    assert re.search(case[2], result.output), result.output
    assert result.output.startswith(f"error: {file}:"), result.output
    assert "Traceback" not in result.output
    assert not marker.exists() and not (tmp_path / ".otter").exists()


def test_the_unchanged_file_is_good_so_each_case_fails_for_its_own_change(tmp_path):
    file = tmp_path / "Otterfile.py"
    file.write_text(BASE.format(marker=tmp_path / "built"))
    result = CliRunner().invoke(main, ["-f", str(file), "plan", "production"], env={})
    assert result.exit_code == 0, result.output
    assert "production" in result.output and "error" not in result.output


def test_internationalised_domains_become_punycode(tmp_path):
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    file, _ = write(tmp_path, ("x", ('domains=["app.test"]', 'domains=["Bücher.Example."]'),
                               ""))
    dep = evaluate(load(file)).deployments["production"]
    assert dep.domains == ("xn--bcher-kva.example",)


@pytest.mark.parametrize("proxy,ok", [("caddy()", False), ('caddy(tls="internal")', True),
                                      ('caddy(tls="off")', True), ("nginx()", True)])
def test_a_wildcard_is_refused_where_its_certificate_cannot_be_had(tmp_path, proxy, ok):
    file, _ = write(tmp_path, ("x", ('domains=["app.test"])',
                                     f'domains=["*.apps.test"], proxy={proxy})'), ""))
    result = CliRunner().invoke(main, ["-f", str(file), "plan", "production"], env={})
    if ok:
        assert result.exit_code == 0, result.output
    else:
        assert result.exit_code == 2
        assert "proxy/domains/0: '*.apps.test': a wildcard certificate needs" in result.output


def test_a_kind_table_names_what_it_accepts_from_its_own_rows():
    """A new row is named in the error without a hand-written list to keep in step."""
    from dataclasses import dataclass

    from otterfile.errors import OtterfileError
    from otterfile.load.validate import kind_of

    @dataclass
    class Kind:
        name: str

    table = {int: Kind("one"), str: Kind("two"), bytes: Kind("three")}
    assert kind_of(table, "x").name == "two"
    with pytest.raises(OtterfileError, match=r"expected one\(\.\.\.\), two\(\.\.\.\) or "
                                             r"three\(\.\.\.\), got 1\.5"):
        kind_of(table, 1.5)
    with pytest.raises(OtterfileError, match=r"expected one\(\.\.\.\), got"):
        kind_of({int: Kind("one")}, "x")

"""Ten kinds of bad Otterfile: each exits 2 and names the file and line or the field path."""
import pytest
from click.testing import CliRunner

from otterfile.cli import main

HEAD = "from otterfile import *\n"
GOOD_ARTIFACT = '''
@artifact
def web():
    return build(path="app", command="docker build -t app .")
'''
GOOD_RUNTIME = '''
@runtime
def box():
    return docker(port=8080)
'''
GOOD_TARGET = '''
@target
def a():
    return ssh("root@127.0.0.1:2201")
'''
DEPLOY = '''
@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=["a"]{extra})
'''
BASE = HEAD + GOOD_ARTIFACT + GOOD_RUNTIME + GOOD_TARGET


def deploy(extra=""):
    return BASE + DEPLOY.format(extra=extra)


CASES = {
    "syntax error": (HEAD + "def broken(:\n", ["Otterfile.py:2:", "syntax error"]),
    "exception in a function": (HEAD + GOOD_ARTIFACT + GOOD_TARGET + '''
@runtime
def box():
    raise ValueError("no port today")
''' + DEPLOY.format(extra=""), ["Otterfile.py:13:", "runtime box", "no port today"]),
    "unknown reference": (BASE + DEPLOY.format(extra="").replace('["a"]', '["b"]'),
                          ["deployment production/targets/0", "unknown target 'b'",
                           "known: a"]),
    "duplicate name": (BASE + GOOD_TARGET + DEPLOY.format(extra=""),
                       ["Otterfile.py:15:", "duplicate target name 'a'", "line 11"]),
    "a name otter's store folder has": (BASE + DEPLOY.replace("production", "artifacts").format(
        extra=""), ["Otterfile.py:15:", "deployment name 'artifacts' is taken",
                    "/var/lib/otter/artifacts"]),
    "wrong type": (deploy(", keep_releases='five'"),
                   ["deployment production/keep_releases", "expected an int", "'five'"]),
    "missing field": (BASE + '''
@deployment
def production():
    return Deployment(artifact=web, targets=["a"])
''', ["deployment production/runtime", "missing"]),
    "cycle among steps": (deploy() + '''
@step(deployment="production", before="b1")
def a1(ctx):
    pass

@step(deployment="production", before="a1")
def b1(ctx):
    pass
''', ["cycle among steps", "a1 -> b1 -> a1"]),
    "invalid domain": (deploy(", domains=['bad_domain!.com']"),
                       ["deployment production/domains/0", "invalid domain name"]),
    "port out of range": (HEAD + GOOD_ARTIFACT + GOOD_TARGET + '''
@runtime
def box():
    return docker(port="abc")
''' + DEPLOY.format(extra=""), ["runtime box/port", "expected an int from 1 to 65535",
                                "got 'abc'"]),
    "malformed ssh address": (HEAD + GOOD_ARTIFACT + GOOD_RUNTIME + '''
@target
def a():
    return ssh("root@host:99999")
''' + DEPLOY.format(extra=""), ["Otterfile.py:11:", "target a/address",
                                "malformed ssh address"]),
    "health check field": (deploy(", health_check={'path': 'health'}"),
                           ["deployment production/health_check/path", "starting with '/'"]),
    "bad step stage": (deploy() + '''
@step(deployment="production", before="swtich")
def s(ctx):
    pass
''', ["step s/before", "'swtich' is neither a stage"]),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_otterfile_exits_2_with_location(case, otterfile):
    text, expected = CASES[case]
    path = otterfile(text)
    result = CliRunner().invoke(main, ["-f", str(path), "plan", "production"])
    assert result.exit_code == 2, result.output
    for part in expected:
        assert part in result.output, (part, result.output)
    assert "Traceback" not in result.output


def test_debug_shows_the_traceback(otterfile):
    path = otterfile(CASES["exception in a function"][0])
    result = CliRunner().invoke(main, ["-f", str(path), "--debug", "plan", "production"])
    assert result.exit_code == 2
    assert "Traceback" in result.output


def test_missing_otterfile_names_it(tmp_path):
    result = CliRunner().invoke(main, ["-f", str(tmp_path / "nope.py"), "list"])
    assert result.exit_code == 2
    assert "nope.py" in result.output


def test_unknown_deployment_lists_known(otterfile):
    result = CliRunner().invoke(main, ["-f", str(otterfile(deploy())), "plan", "staging"])
    assert result.exit_code == 2
    assert "unknown deployment 'staging'; known: production" in result.output

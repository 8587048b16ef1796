import otterfile
from otterfile.load.dsl import mark_of
from otterfile.load.loader import load


def test_all_is_pinned():
    assert sorted(otterfile.__all__) == sorted([
        "Deployment", "HealthCheck", "OtterError", "OtterfileError", "Snapshots", "artifact",
        "build", "caddy", "deployment", "docker", "fetch", "image", "local", "nginx", "podman",
        "registry", "runtime", "Schedule", "secret", "ssh", "step", "systemd", "target"])
    for name in otterfile.__all__:
        assert hasattr(otterfile, name)


def test_the_package_alone_imports_none_of_the_dsl_until_a_name_is_used():
    """`otter --help` imports the package, not the DSL; the first name used loads it."""
    import subprocess
    import sys
    code = ("import sys, otterfile; before = sorted(m for m in sys.modules if "
            "m.startswith('otterfile.')); from otterfile import *; print(before, "
            "'otterfile.load.model' in sys.modules, 'tarfile' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.split() == ["[]", "True", "False"], done.stdout + done.stderr


def test_decorators_with_and_without_parentheses_and_names():
    @otterfile.artifact
    def a():
        return None

    @otterfile.artifact()
    def b():
        return None

    @otterfile.target("server-a")
    def c():
        return None

    @otterfile.step(deployment="p", before="switch", on="once")
    def d(ctx):
        return None

    assert mark_of(a).name == "a" and mark_of(a).kind == "artifact"
    assert mark_of(b).name == "b"
    assert mark_of(c).name == "server-a" and mark_of(c).kind == "target"
    assert mark_of(d).options == {"deployment": "p", "before": "switch", "after": None,
                                  "on": "once"}
    assert a() is None  # the function stays callable


SAMPLE = '''
from otterfile import artifact, build
import helper
@artifact
def {name}():
    return build(path=".", command="docker build -t x .")
'''


def test_two_otterfiles_load_without_seeing_each_other(tmp_path):
    for name in ("one", "two"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "helper.py").write_text(f"WHO = {name!r}\n")
        (tmp_path / name / "Otterfile.py").write_text(SAMPLE.format(name=name))
    import sys
    before = list(sys.path)
    first = load(tmp_path / "one" / "Otterfile.py")
    second = load(tmp_path / "two" / "Otterfile.py")
    assert [m.mark.name for m in first.functions] == ["one"]
    assert [m.mark.name for m in second.functions] == ["two"]
    assert sys.path == before
    assert "helper" not in sys.modules

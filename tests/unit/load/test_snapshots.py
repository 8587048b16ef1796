"""Snapshots(...) in an Otterfile: checked field by field, an error names the file, line
and path; a good one reaches the model with `before` as argv."""
from __future__ import annotations

import pytest

from otterfile.errors import OtterfileError
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load

pytestmark = pytest.mark.unit

FILE = '''
from otterfile import *

@deployment
def production():
    return Deployment(artifact=build(path=".", command="docker build -t app:1 ."),
                      runtime=docker(port=8080, volumes=["data:/data"]),
                      targets=[ssh("root@web1")], snapshots={snapshots})
'''


def deployment(tmp_path, snapshots: str):
    (tmp_path / "Otterfile.py").write_text(FILE.format(snapshots=snapshots))
    return evaluate(load(tmp_path / "Otterfile.py")).deployments["production"]


def test_defaults_and_before_as_words(tmp_path):
    from otterfile import Snapshots
    assert deployment(tmp_path, "Snapshots()").snapshots == Snapshots(5, None)
    dep = deployment(tmp_path, "Snapshots(keep=2, before=\"sh -c 'pg_dump > /data/d'\")")
    assert dep.snapshots == Snapshots(2, ("sh", "-c", "pg_dump > /data/d"))
    assert deployment(tmp_path, "Snapshots(before=['dump', 'x y'])").snapshots.before == \
        ("dump", "x y")
    assert deployment(tmp_path, "None").snapshots is None


@pytest.mark.parametrize("value, path, words", [
    ("Snapshots(keep=0)", "snapshots/keep", "expected an int from 1 to 1000, got 0"),
    ("Snapshots(keep='5')", "snapshots/keep", "got '5'"),
    ("Snapshots(before='')", "snapshots/before", "non-empty string"),
    ("Snapshots(before='a\\nb')", "snapshots/before", "control character"),
    ("Snapshots(before=\"'open\")", "snapshots/before", "cannot split"),
    ("Snapshots(before=[])", "snapshots/before", "empty one"),
    ("Snapshots(before=3)", "snapshots/before", "list of strings"),
    ("5", "snapshots", "expected Snapshots(keep=..., before=...), got 5"),
])
def test_bad_values_name_the_file_line_and_path(tmp_path, value, path, words):
    with pytest.raises(OtterfileError) as raised:
        deployment(tmp_path, value)
    error = raised.value
    assert error.path == f"deployment production/{path}"
    assert words in error.message and error.file.endswith("Otterfile.py") and error.line

"""Loading hostile Otterfiles: encodings, sys.exit, Ctrl-C."""
import sys

import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.errors import Interrupted, OtterfileError
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load

FILE = '''from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app .")
'''


def write(tmp_path, data: bytes):
    path = tmp_path / "Otterfile.py"
    path.write_bytes(data)
    return path


def otter(path, *args):
    return CliRunner().invoke(main, ["-f", str(path), *args], env={})


def test_utf8_bom_loads(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + FILE.encode() + b'NAME = "caf\xc3\xa9"\n')
    assert [m.mark.name for m in load(path).functions] == ["web"]


def test_coding_line_is_honoured(tmp_path):
    path = write(tmp_path, b"# -*- coding: latin-1 -*-\n# caf\xe9\nWORD = 'caf\xe9'\n"
                 + FILE.encode())
    marked = load(path).functions
    assert [m.mark.name for m in marked] == ["web"]
    assert marked[0].fn.__wrapped__.__globals__["WORD"] == "caf\u00e9"
    result = otter(path, "list")
    assert result.exit_code == 0, result.output


def test_bom_file_lists_from_the_cli(tmp_path):
    result = otter(write(tmp_path, b"\xef\xbb\xbf" + FILE.encode()), "list")
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize("data, line", [
    (FILE.encode() + b'\nWORD = "caf\xe9"\n', 7),
    (b"# caf\xe9\n" + FILE.encode(), 1),
    (b"# -*- coding: no-such-codec -*-\n" + FILE.encode(), 1),
])
def test_undecodable_file_exits_2_naming_it(tmp_path, data, line):
    path = write(tmp_path, data)
    with pytest.raises(OtterfileError) as caught:
        load(path)
    assert caught.value.file == str(path) and caught.value.line == line
    result = otter(path, "list")
    assert result.exit_code == 2
    assert f"{path}:{line}: not readable as text" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("call, shown", [
    ("sys.exit(3)", "sys.exit(3)"), ("raise SystemExit", "sys.exit()"),
    ("sys.exit('bye')", "sys.exit('bye')"),
])
def test_sys_exit_at_top_level_is_an_otterfile_error(tmp_path, call, shown):
    path = write(tmp_path, (FILE + f"import sys\n{call}\n").encode())
    result = otter(path, "list")
    assert result.exit_code == 2, result.output
    assert f"{path}:7: the Otterfile called {shown}" in result.output
    assert "Traceback" not in result.output


def test_sys_exit_in_a_marked_function_is_an_otterfile_error(tmp_path):
    path = write(tmp_path, b"import sys\n" + FILE.replace(
        "    return build", "    sys.exit(3)\n    return build").encode())
    loaded = load(path)
    with pytest.raises(OtterfileError, match=r"artifact web: the Otterfile called sys.exit\(3\)"):
        evaluate(loaded)
    result = otter(path, "list")
    assert result.exit_code == 2, result.output
    assert f"{path}:6: artifact web: the Otterfile called sys.exit(3)" in result.output
    assert "Traceback" not in result.output


def test_marked_function_keeps_its_name_and_mark(tmp_path):
    marked = load(write(tmp_path, FILE.encode())).functions[0]
    assert marked.fn.__name__ == "web" and marked.line == 3


def test_ctrl_c_while_loading_names_the_line_and_exits_130(tmp_path):
    path = write(tmp_path, (FILE + "raise KeyboardInterrupt\n").encode())
    lines = len(FILE.splitlines()) + 1
    saved = list(sys.path)
    with pytest.raises(Interrupted) as raised:
        load(path)
    assert sys.path == saved
    assert str(raised.value) == f"{path}:{lines}: interrupted (Ctrl-C) while reading the " \
        "Otterfile" and raised.value.exit_code == 130
    inside = write(tmp_path, FILE.replace("    return build",
                                          "    raise KeyboardInterrupt\n    return build").encode())
    with pytest.raises(Interrupted, match=r"Otterfile.py:5: interrupted"):
        evaluate(load(inside))
    result = CliRunner().invoke(main, ["-f", str(inside), "list"])
    assert result.exit_code == 130 and "Traceback" not in result.output
    assert f"error: {inside}:5: interrupted (Ctrl-C)" in result.output


def test_a_decorated_class_is_refused_at_its_line(tmp_path):
    path = write(tmp_path, b"from otterfile import *\n\n\n@target('web')\nclass Web:\n"
                 b"    pass\n")
    with pytest.raises(OtterfileError) as raised:
        load(path)
    assert str(raised.value) == f"{path}:4: TypeError: @target decorates a function that " \
        "returns the target, got the class Web"


def test_a_marked_callable_without_code_gets_the_line_it_is_bound_at(tmp_path):
    path = write(tmp_path, b"import functools\nfrom otterfile import *\n\n"
                 b"web = target('web')(functools.partial(ssh, 'root@web1'))\n")
    (marked,) = load(path).functions
    assert marked.mark.name == "web" and marked.line == 4

"""`otter init --example`: the examples listed, one copied beside the Otterfile (its secrets
private), an existing file or an unknown name refused with nothing written."""
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from otterfile.cli import main

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]


def invoke(folder: Path, *args: str):
    return CliRunner().invoke(main, ["-f", str(folder / "Otterfile.py"), "init", *args])


def test_alone_it_lists_every_example_with_what_it_shows(tmp_path):
    result = invoke(tmp_path, "--example")
    assert result.exit_code == 0, result.output
    names = {p.parent.name for p in (ROOT / "examples").glob("*/Otterfile.py")}
    listed = {line.split()[0] for line in result.output.splitlines()[2:-1]}
    assert listed == names and len(names) >= 6
    assert "hello  " in result.output and "Deploy a tiny web app" in result.output
    assert list(tmp_path.iterdir()) == []  # listing writes nothing


def test_an_example_is_copied_whole_with_its_secrets_private(tmp_path):
    result = invoke(tmp_path, "--example", "hello")
    assert result.exit_code == 0, result.output
    source = ROOT / "examples" / "hello"
    expected = sorted(p.relative_to(source) for p in source.rglob("*")
                      if p.is_file() and "__pycache__" not in p.parts
                      and p.relative_to(source) != Path("app/busybox"))  # a build's, ignored
    copied = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.is_file())
    assert copied == expected and Path(".otter/secrets") in copied
    assert (tmp_path / "Otterfile.py").read_text() == (source / "Otterfile.py").read_text()
    assert stat.S_IMODE((tmp_path / ".otter").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / ".otter" / "secrets").stat().st_mode) == 0o600
    listed = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "list"])
    assert listed.exit_code == 0 and "production" in listed.output, listed.output


def test_what_a_gitignore_names_is_not_copied(tmp_path, monkeypatch):
    from otterfile.cli import examples
    made = tmp_path / "examples" / "demo"
    (made / "app" / "out").mkdir(parents=True)
    (made / "Otterfile.py").write_text('"""A demo."""\n')
    (made / "app" / ".gitignore").write_text("# built\nbusybox\nout/\n*.log\n")
    for name in ("busybox", "keep.txt", "x.log", "out/a.bin"):
        (made / "app" / name).write_text(name)
    monkeypatch.setattr(examples, "folder", lambda: tmp_path / "examples")
    assert examples.files_of("demo") == [Path("Otterfile.py"), Path("app/.gitignore"),
                                         Path("app/keep.txt")]


def test_an_existing_file_is_never_overwritten_without_force(tmp_path):
    (tmp_path / "Otterfile.py").write_text("# mine\n")
    result = invoke(tmp_path, "--example", "hello")
    assert result.exit_code == 1 and "Otterfile.py exists" in result.output
    assert (tmp_path / "Otterfile.py").read_text() == "# mine\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["Otterfile.py"]  # nothing else
    forced = invoke(tmp_path, "--example", "hello", "--force")
    assert forced.exit_code == 0 and "# mine" not in (tmp_path / "Otterfile.py").read_text()


def test_an_unknown_example_names_the_known_ones(tmp_path):
    result = invoke(tmp_path, "--example", "nope")
    assert result.exit_code == 1
    assert "no example 'nope'; the examples: build-host, " in result.output
    assert list(tmp_path.iterdir()) == []

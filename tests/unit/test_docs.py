"""The docs cannot rot: every Otterfile written in docs/ and README.md loads as `otter list`
loads it, every `otter ...` command they write names commands and options that exist, and
docs/cli.md is what docs/gen_cli.py generates from click's help (docs/contributing.md says
how the blocks are marked)."""
from __future__ import annotations

import ast
import importlib.util
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from otterfile.cli import main

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
PAGES = sorted((ROOT / "docs").rglob("*.md")) + [ROOT / "README.md"]
GENERATED = ROOT / "docs" / "cli.md"

FENCE = re.compile(r"^```(\S*)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
MARK = re.compile(r"<!--\s*(otterfile|fragment|file:\s*(\S+))\s*-->\s*$")
SPAN = re.compile(r"`(otter [^`]+)`")
SHELL = {"sh", "bash", "console", "shell"}
# what an Otterfile in the docs may read beside it: a build's folder, nginx's TLS files
PEM = "-----BEGIN {0}-----\nTUlJ\n-----END {0}-----\n"
FIXTURES = {"certs/myapp.pem": PEM.format("CERTIFICATE"),
            "certs/myapp.key": PEM.format("PRIVATE KEY"),
            "templates/app.ini.j2": "db = {{ db }}\n"}
FOLDERS = ("app", "api", "redis", "public", "src")


@dataclass
class Block:
    page: Path
    line: int
    lang: str
    text: str
    mark: str | None  # "otterfile", "fragment", "file:NAME" or None
    files: dict[str, str]  # `<!-- file: NAME -->` blocks written earlier on the page

    def __str__(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def blocks(page: Path) -> list[Block]:
    text, found, files = page.read_text(), [], {}
    for match in FENCE.finditer(text):
        before = text[:match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        mark = MARK.search(before)
        kind = None if mark is None else (f"file:{mark.group(2)}" if mark.group(2)
                                          else mark.group(1))
        block = Block(page, text.count("\n", 0, match.start()) + 1, match.group(1),
                      match.group(2), kind, dict(files))
        if kind and kind.startswith("file:"):
            files[kind[5:]] = block.text
        found.append(block)
    return found


ALL = [b for page in PAGES for b in blocks(page)]
OTTERFILES = [b for b in ALL if b.mark == "otterfile"]


def test_readme_is_short() -> None:
    """README.md is the front door (docs/contributing.md): the reference lives in docs/."""
    lines = (ROOT / "README.md").read_text().count("\n")
    assert lines < 200, f"README.md has {lines} lines: move the detail into docs/"


def test_the_docs_hold_otterfiles() -> None:
    assert len(OTTERFILES) >= 25, [str(b) for b in OTTERFILES]
    assert any(b.page.name == "README.md" for b in OTTERFILES)


@pytest.mark.parametrize("block", [b for b in ALL if b.lang == "python"], ids=str)
def test_every_python_block_is_marked(block: Block) -> None:
    assert block.mark, (f"{block}: mark the block: <!-- otterfile --> (a whole Otterfile, "
                        "loaded by this test), <!-- file: NAME --> (a module beside the "
                        "Otterfiles after it) or <!-- fragment --> (a piece, only parsed)")
    ast.parse(block.text, str(block))


@pytest.mark.parametrize("block", OTTERFILES, ids=str)
def test_otterfile_loads(block: Block, tmp_path: Path) -> None:
    for name, text in {**FIXTURES, **block.files}.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    for folder in FOLDERS:
        (tmp_path / folder).mkdir(exist_ok=True)
    (tmp_path / "Otterfile.py").write_text(block.text)
    result = CliRunner().invoke(main, ["-f", str(tmp_path / "Otterfile.py"), "list"])
    assert result.exit_code == 0, f"{block}: otter list says:\n{result.output}"
    assert "deployment" in result.output, f"{block}: declares no deployment"


def commands_written() -> list[tuple[str, str]]:
    """(where, command line) for each `otter ...` in a code span or a shell block."""
    found = []
    for page in PAGES:
        if page == GENERATED:
            continue
        text = page.read_text()
        for block in blocks(page):
            if block.lang not in SHELL:
                continue
            for offset, line in enumerate(block.text.splitlines()):
                code = line.split(" #", 1)[0].strip()
                hit = re.search(r"(?:^|\s|\()otter (.*)", code)
                if hit and not code.startswith("#"):
                    found.append((f"{block}+{offset + 1}", "otter " + hit.group(1)))
        prose = FENCE.sub("", text)
        for span in SPAN.finditer(prose):
            found.append((f"{page.relative_to(ROOT)}", span.group(1)))
    return found


def options_of(command: click.Command) -> set[str]:
    return {name for param in command.params for name in param.opts + param.secondary_opts}


def check(line: str) -> str | None:
    """Why `line` is not a command otter has, or None."""
    words = line.split()[1:]
    command: click.Command | None = None
    taking_value = False
    for word in words:
        if word in ("|", ">", ">>", "&&", ";", "--", "<", "2>&1") or word.startswith(("|", ">")):
            break
        if taking_value:
            taking_value = False
            continue
        word = word.strip("[]")  # `otter status [NAME] [--log N]`
        if word.startswith("-") and len(word) > 1 and not word[1].isdigit():
            flag = word.split("=", 1)[0]
            scope = main if command is None else command
            known = options_of(scope) | {"-h", "--help"}
            if flag not in known:
                return f"{flag} is not an option of otter{'' if command is None else ' ' + command.name}"
            param = next((p for p in scope.params if flag in p.opts), None)
            taking_value = bool(param is not None and not getattr(param, "is_flag", False)
                                and "=" not in word)
            continue
        if command is None:
            word = word.strip("[].,;:)`")
            if not word or word.isupper():  # `otter ...`, `otter COMMAND`: any command
                return None
            if word not in main.commands:
                return f"{word!r} is not an otter command"
            command = main.commands[word]
    return None


def test_docs_write_commands() -> None:
    written = commands_written()
    assert len(written) > 50
    wrong = [f"{where}: {line}: {why}" for where, line in written if (why := check(line))]
    assert not wrong, "\n".join(wrong)


def test_the_check_finds_a_wrong_flag() -> None:
    assert check("otter run production --dry-run --targets a,b") is None
    assert check("otter -f x.py --json plan production --check") is None
    assert check("otter run production --dryrun") == "--dryrun is not an option of otter run"
    assert check("otter deploy production") == "'deploy' is not an otter command"
    assert check("otter exec production -- uptime --weird") is None


def test_the_site_builds_strict(tmp_path: Path) -> None:
    """mkdocs --strict fails on a broken link or anchor (never with --quiet: it hides the
    warnings --strict counts)."""
    result = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict",
                             "--site-dir", str(tmp_path / "site")], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_cli_page_is_generated() -> None:
    spec = importlib.util.spec_from_file_location("gen_cli", ROOT / "docs" / "gen_cli.py")
    assert spec and spec.loader
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    assert GENERATED.read_text() == gen.render(), (
        "docs/cli.md differs from the CLI's help: run python3 docs/gen_cli.py")

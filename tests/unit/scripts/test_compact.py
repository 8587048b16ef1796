"""Scripts are sent without their comments (otterfile/scripts/compact.py): every script
still parses in dash and bash, here-docs and quoted strings keep their `#` lines, and what
is left out is comment text only."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from otterfile.scripts import FOLDER, load
from otterfile.scripts.compact import compact

pytestmark = pytest.mark.unit

SHELL_SCRIPTS = sorted(str(p.relative_to(FOLDER)) for p in FOLDER.rglob("*.sh"))


def test_comment_lines_and_end_comments_go():
    text = ("#!/bin/sh\n# what it does, and the author's note\nd=$1   # the folder's path\n"
            "  # indented\nn=$#; x=${d#/}; y=${#d}; echo a#b\n")
    assert compact(text, "x.sh") == "#!/bin/sh\nd=$1\nn=$#; x=${d#/}; y=${#d}; echo a#b\n"


def test_quoted_strings_and_here_docs_keep_their_hash_lines():
    text = ("awk '\n# an awk comment stays: it is inside quotes\n{ print }' f\n"
            'echo "one\n# two" # gone\n'
            "cat <<'EOF'\n# data\nline # data too\nEOF\n"
            "cat <<-END\n\t# data\n\tEND\n# gone\n")
    assert compact(text, "x.sh") == (
        "awk '\n# an awk comment stays: it is inside quotes\n{ print }' f\n"
        'echo "one\n# two"\n'
        "cat <<'EOF'\n# data\nline # data too\nEOF\n"
        "cat <<-END\n\t# data\n\tEND\n")


def test_awk_files_lose_comment_lines_other_files_stay():
    assert compact("# about\n{ print $1 }  # kept\n", "x.awk") == "{ print $1 }  # kept\n"
    python = "# a comment\nprint('#')\n"
    assert compact(python, "serve_file.py") == python


@pytest.mark.parametrize("shell", ["dash", "bash"])
def test_every_script_still_parses(shell):
    if shutil.which(shell) is None:
        pytest.skip(f"outside the project: no {shell} here")
    bad = {}
    for name in SHELL_SCRIPTS:
        done = subprocess.run([shell, "-n"], input=load(name), text=True, capture_output=True)
        if done.returncode:
            bad[name] = done.stderr
    assert bad == {}


def test_only_comment_text_is_left_out():
    """Each script's lines, their comments cut off, are the sent lines plus blank ones."""
    for name in SHELL_SCRIPTS:
        original = (FOLDER / name).read_text().splitlines()
        sent = load(name).splitlines()
        kept = iter(sent)
        for line in original:
            if line.lstrip().startswith("#") and not line.startswith("#!"):
                continue  # a comment line (or here-doc data: then it is the next sent line)
            code = next(kept)
            assert line.startswith(code) and (code == line or
                                              line[len(code):].lstrip().startswith("# ")), \
                (name, line, code)


def test_a_deploy_lock_trip_shrinks():
    """The lock script and the proxy's ensure script, nested as a lock trip nests them: the
    quoting of the comments' apostrophes was most of it."""
    from otterfile.command import script
    inner = script(load("proxy-ensure.sh"), args=["caddy"])
    outer = script(load("lock/acquire.sh") + "\n" + inner.shell_line(), args=["x"])
    raw_inner = script((FOLDER / "proxy-ensure.sh").read_text(), args=["caddy"])
    raw = script((FOLDER / "lock/acquire.sh").read_text() + "\n" + raw_inner.shell_line(),
                 args=["x"])
    assert len(outer.shell_line()) < 0.7 * len(raw.shell_line())

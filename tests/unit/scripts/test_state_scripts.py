"""scripts/state/releases.sh and fingerprint-key.sh for real: releases.json printed and
searched by the shell says exactly what `cat` and `grep` said (the script as it was before,
kept here), a file with or without its last newline, each kind listed when it should be;
the key is 64 hex digits, kept, printed without a newline."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from otterfile import scripts

pytestmark = pytest.mark.unit

BEFORE = r"""d=$1        # the deployment's state folder
lines=$2    # how many deploy-log lines
every=$3    # 1: list every kind
shift 3
first=1
cat "$d/releases.json" 2>/dev/null; echo
if grep -q '"id"' "$d/releases.json" 2>/dev/null && ! grep -q '"runtime"' "$d/releases.json"
then every=1; fi
while [ $# -ge 2 ]; do
  if [ "$first" = 1 ] || [ "$every" = 1 ] || grep -qF "\"$1\"" "$d/releases.json" 2>/dev/null
  then
    echo "--- otter:instances $1"
    sh -c "$2" 2>/dev/null
  fi
  first=0; shift 2
done
echo "--- otter:log"
if [ "$lines" -gt 0 ] && [ -f "$d/deploy.log" ]; then tail -n "$lines" "$d/deploy.log"; fi
exit 0
"""
KINDS = ["systemd", "echo units", "docker", "echo containers", "podman", "echo pods"]
FILES = [
    None,
    "",
    '{"releases": [{"id": "r1", "runtime": "systemd"}]}\n',
    '{"releases": [{"id": "r1", "runtime": "docker"}]}',  # no last newline
    '{"releases": [\n  {"id": "r1"}\n]}\n',  # an older otter's: no runtime named
    '{"releases": [{"id": "r1", "runtime": "podman", "x": "back\\\\slash %s"}]}\n\n',
    'line one\n\tline "two" \\n\n  trailing spaces  ',
]


def run(text: str, folder: Path, every: str = "0") -> str:
    done = subprocess.run(["sh", "-c", text, "releases", str(folder), "2", every, *KINDS],
                          capture_output=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return done.stdout.decode()


@pytest.mark.parametrize("content", FILES)
@pytest.mark.parametrize("every", ["0", "1"])
def test_releases_says_what_cat_and_grep_said(tmp_path, content, every):
    if content is not None:
        (tmp_path / "releases.json").write_text(content)
    (tmp_path / "deploy.log").write_text("a\nb\nc\n")
    now = run(scripts.load("state/releases.sh"), tmp_path, every)
    assert now == run(BEFORE, tmp_path, every)
    assert now.endswith("--- otter:log\nb\nc\n")


def test_releases_lists_a_named_kind_only(tmp_path):
    (tmp_path / "releases.json").write_text('{"releases": [{"id": "r", "runtime": "podman"}]}\n')
    out = run(scripts.load("state/releases.sh"), tmp_path)
    assert "--- otter:instances systemd\nunits\n" in out and "pods" in out
    assert "containers" not in out


def test_the_fingerprint_key_is_made_once_and_printed_bare(tmp_path):
    key = tmp_path / "new" / "folder" / "fingerprint.key"
    said = [subprocess.run(["sh", "-c", scripts.load("state/fingerprint-key.sh"), "k",
                            str(key)], capture_output=True, text=True, timeout=30)
            for _ in range(2)]
    assert [s.returncode for s in said] == [0, 0]
    assert re.fullmatch(r"[0-9a-f]{64}", said[0].stdout) and said[1].stdout == said[0].stdout
    assert key.read_text() == said[0].stdout and oct(key.stat().st_mode & 0o777) == "0o600"
    assert [p.name for p in key.parent.iterdir()] == ["fingerprint.key"]  # no .tmp left


FREE_BEFORE_LOOP = 'while [ ! -d "$dir" ] && [ "$dir" != / ]; do dir=$(dirname -- "$dir"); done'


def test_free_space_finds_the_nearest_folder_as_dirname_did(tmp_path):
    now = scripts.load("free-space.sh")
    loop = next(line for line in now.splitlines() if "while [ ! -d" in line)
    start = now.index(loop)
    end = now.index("done\n", start) + len("done")
    before = now[:start] + FREE_BEFORE_LOOP + now[end:]
    assert before != now
    (tmp_path / "a").mkdir()
    lines = "".join(f"role {p}\n" for p in (
        tmp_path / "a" / "b" / "c", f"{tmp_path}/a/x//y/", tmp_path / "a", "/no/such/place",
        "relative/skipped"))
    # each line's free KiB left out: other processes write to these disks meanwhile
    said = [[line.split("\t")[0:1] + line.split("\t")[2:] for line in subprocess.run(
        ["sh", "-c", text], input=lines, capture_output=True, text=True,
        timeout=30).stdout.splitlines()] for text in (now, before)]
    assert said[0] == said[1] and len(said[0]) == 4


def test_the_deploy_log_append_makes_its_folder_only_when_missing(tmp_path):
    from otterfile.commands import state as cs
    from otterfile.executors.local import LocalExecutor
    base = tmp_path / "new" / "otter"
    for line in ("one", "two"):
        assert LocalExecutor().run(cs.append_log("production", line, base=str(base))).ok
    assert (base / "production" / "deploy.log").read_text() == "one\ntwo\n"

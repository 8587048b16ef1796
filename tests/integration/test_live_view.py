"""What a person sees: a deploy on a terminal updates its lines in place; through a pipe it
prints plain lines without a single escape sequence."""
from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time

from tests.integration.deploy import otter, otter_env, served

CURSOR_UP = re.compile(r"\x1b\[\d*A")  # how a live region redraws itself in place
ESCAPE = re.compile(r"\x1b|\x9b")


def in_terminal(project, *args: str, timeout: float = 240) -> tuple[int, str]:
    """Run `otter ARGS` with stdout and stderr on a pseudo-terminal; (exit status, text)."""
    main, child = pty.openpty()
    os.set_blocking(main, False)
    env = {k: v for k, v in otter_env(TERM="xterm-256color", COLUMNS="120",
                                       LINES="40").items() if k != "NO_COLOR"}
    process = subprocess.Popen([sys.executable, "-m", "otterfile", "-f",
                                str(project / "Otterfile.py"), *args],
                               stdin=child, stdout=child, stderr=child, env=env, cwd=project)
    os.close(child)
    chunks, deadline = [], time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([main], [], [], 0.5)
            if ready:
                try:
                    data = os.read(main, 65536)
                except OSError:  # the child side closed: every byte is read
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
        return process.wait(timeout=max(1.0, deadline - time.monotonic())), \
            b"".join(chunks).decode(errors="replace")
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        os.close(main)


def test_a_terminal_shows_one_live_line_per_target(project, two):
    status, text = in_terminal(project, "run", "production")
    assert status == 0, text
    assert [served(t) for t in two] == ["200 v1", "200 v1"]
    assert CURSOR_UP.search(text), "no in-place update (cursor up) on a terminal"
    plain = ESCAPE.sub("", text)
    for t in two:  # the summary table stays, one row per target
        assert re.search(rf"^{re.escape(t.host.name)}\s.*\sok\s*$", plain, re.M), plain


def test_a_pipe_gets_plain_lines(project, two):
    result = otter(project, "run", "production")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout + result.stderr
    assert not ESCAPE.search(out), out
    lines = out.splitlines()
    print(f"\nlines printed by a two-target deploy to a pipe: {len(lines)}")
    for t in two:  # one line per finished stage of each target, ship's with its bytes
        name = re.escape(t.host.name)
        for stage in ("lock", "ship", "start", "health", "switch", "retire", "unlock"):
            assert len(re.findall(rf"^\s*{name}\s+{stage}\s+ok\b", out, re.M)) == 1, (stage, out)
        sent = re.findall(rf"^\s*{name}\s+ship\s+ok\s.*\bsent (\d+) bytes$", out, re.M)
        assert len(sent) == 1 and int(sent[0]) > 1_000_000, out  # the 2 MB app image
    # progress lines come only every 3 s (none on a fast ship): tests/unit/report/test_reporters.py
    # checks that their counts never pass their totals

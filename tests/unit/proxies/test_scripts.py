"""The proxies' remote scripts (switch, remove, probe, ensure, state read) pass shellcheck
as POSIX sh, each switch script together with the upstream functions it runs after."""
from __future__ import annotations

import shutil
import subprocess

import pytest

from otterfile.scripts import FOLDER

pytestmark = pytest.mark.unit

SCRIPTS = {"caddy-switch.sh": ["upstream.sh"], "nginx-switch.sh": ["upstream.sh"],
           "caddy-remove.sh": [], "nginx-remove.sh": [], "nginx-switch-probe.sh": [],
           "proxy-ensure.sh": [], "read-target.sh": [], "upstream.sh": []}


@pytest.mark.skipif(shutil.which("shellcheck") is None,
                    reason="no shellcheck on this machine (scripts/setup.sh installs it)")
@pytest.mark.parametrize("name", sorted(SCRIPTS))
def test_script_is_shellcheck_clean(name, tmp_path):
    whole = tmp_path / name
    whole.write_text("".join((FOLDER / n).read_text() for n in SCRIPTS[name] + [name]))
    done = subprocess.run(["shellcheck", "-s", "sh", str(whole)], capture_output=True,
                          text=True)
    assert done.returncode == 0, done.stdout


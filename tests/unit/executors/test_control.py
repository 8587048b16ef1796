"""Where kept SSH masters live and when one is reused: a private folder, a socket name that
changes with anything that shapes the connection and not with the host's display name."""
import os
import shutil
import stat
import tempfile

import pytest

from otterfile.errors import OtterError
from otterfile.executors.control import connection_key, control_folder, persist_seconds
from otterfile.executors.openssh import ssh_options
from otterfile.hosts import ssh


def key(host):
    return connection_key(host, ssh_options(host))


def test_persist_defaults_to_60_and_0_turns_it_off(monkeypatch):
    monkeypatch.delenv("OTTER_SSH_PERSIST", raising=False)
    assert persist_seconds() == 60
    monkeypatch.setenv("OTTER_SSH_PERSIST", "0")
    assert persist_seconds() == 0
    monkeypatch.setenv("OTTER_SSH_PERSIST", " 600 ")
    assert persist_seconds() == 600
    monkeypatch.setenv("OTTER_SSH_PERSIST", "-1")
    with pytest.raises(OtterError, match="OTTER_SSH_PERSIST='-1': expected a number"):
        persist_seconds()


def test_the_socket_name_changes_with_what_shapes_the_connection(tmp_path):
    (tmp_path / "k1").write_text("one")
    (tmp_path / "k2").write_text("two")
    base = ssh("root@web1:2222", identity_file=str(tmp_path / "k1"))
    variants = [ssh("deploy@web1:2222", identity_file=str(tmp_path / "k1")),
                ssh("root@web1:2223", identity_file=str(tmp_path / "k1")),
                ssh("root@web2:2222", identity_file=str(tmp_path / "k1")),
                ssh("root@web1:2222", identity_file=str(tmp_path / "k2")),
                ssh("root@web1:2222", identity_file=str(tmp_path / "k1"),
                    known_hosts=str(tmp_path / "kh")),
                ssh("root@web1:2222", identity_file=str(tmp_path / "k1"),
                    host_key_checking="accept-new")]
    before = key(base)
    assert len({before} | {key(v) for v in variants}) == len(variants) + 1
    assert key(base.named("front")) == before  # the display name is not the connection
    (tmp_path / "k1").write_text("a new key at the same path")
    assert key(base) != before


def test_the_folder_is_private_and_short(monkeypatch):
    runtime = tempfile.mkdtemp(prefix="otter-u-", dir="/tmp")  # short, as a socket needs
    monkeypatch.setenv("XDG_RUNTIME_DIR", runtime)
    try:
        check_private(runtime)
    finally:
        shutil.rmtree(runtime)


def check_private(runtime):
    folder = control_folder()
    assert folder == os.path.join(runtime, "otter-ssh")
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    os.chmod(folder, 0o755)  # loosened by someone: made private again
    assert control_folder() == folder and stat.S_IMODE(os.stat(folder).st_mode) == 0o700


def test_a_folder_too_long_for_a_socket_is_passed_over(tmp_path, monkeypatch):
    deep = tmp_path / ("x" * 90)
    deep.mkdir()
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(deep))
    monkeypatch.setenv("HOME", str(deep))
    folder = control_folder()
    assert not folder.startswith(str(deep)) and len(folder) + 34 <= 103

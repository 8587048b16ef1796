"""ssh(kex=...) reaches the server's key exchange: a throwaway sshd that offers one
algorithm (curve25519-sha256) is reached with it, refused (not tried again) with an
algorithm it does not offer, and reached with the client's own list when kex is not given."""
from __future__ import annotations

import pytest

from otterfile.command import cmd
from otterfile.executors.openssh import ConnectionFailed
from otterfile.executors.ssh import SSHExecutor
from otterfile.hosts import SSHHost
from tests.integration.test_ssh_executor import private_sshd, require_sshd

pytestmark = pytest.mark.integration

OFFERED = "curve25519-sha256"


@pytest.fixture(scope="module")
def one_kex_sshd(tmp_path_factory):
    require_sshd()
    with private_sshd(tmp_path_factory.mktemp("kex"),
                      f"KexAlgorithms {OFFERED}\nLogLevel DEBUG\n") as found:
        yield found


def run(sshd, kex: str | None) -> str:
    """`echo` over a fresh connection offering `kex`; what sshd logged meanwhile."""
    mark = len(sshd["log"].read_text(errors="replace"))
    host = SSHHost(hostname="127.0.0.1", port=sshd["port"], user="root",
                   identity_file=str(sshd["dir"] / "client_key"),
                   known_hosts=str(sshd["dir"] / "known_hosts"), kex=kex)
    executor = SSHExecutor(host)
    try:
        assert executor.run(cmd("echo", "in")).stdout == "in\n"
    finally:
        executor.close()
    return sshd["log"].read_text(errors="replace")[mark:]


def test_the_kex_given_is_the_one_negotiated(one_kex_sshd):
    assert f"kex: algorithm: {OFFERED}" in run(one_kex_sshd, OFFERED)


def test_a_kex_the_server_does_not_offer_is_refused_once(one_kex_sshd):
    log = one_kex_sshd["log"]
    mark = len(log.read_text(errors="replace"))
    with pytest.raises(ConnectionFailed, match="no matching key exchange method") as failed:
        run(one_kex_sshd, "ecdh-sha2-nistp256")
    assert "Unable to negotiate" in failed.value.stderr
    assert "6 tries" not in str(failed.value)  # refused, not dropped: never tried again
    # the listener logs each connection it accepts before it forks for it: one try
    assert log.read_text(errors="replace")[mark:].count("rexec start") == 1


def test_without_kex_the_clients_list_is_offered(one_kex_sshd):
    # the client's default list includes the one offered, so it connects; kex= is not needed
    assert f"kex: algorithm: {OFFERED}" in run(one_kex_sshd, None)

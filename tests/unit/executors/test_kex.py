"""ssh(kex=...): the key exchange algorithms otter offers, checked where the Otterfile says
them and passed to the OpenSSH client as KexAlgorithms; without it, the client's own."""
import pytest

from otterfile.errors import OtterfileError
from otterfile.executors.control import connection_key
from otterfile.executors.openssh import ssh_options
from otterfile.hosts import ssh
from otterfile.load.evaluate import evaluate
from otterfile.load.loader import load


def test_kex_reaches_the_ssh_options():
    options = ssh_options(ssh("root@web1", kex="curve25519-sha256"))
    at = options.index("KexAlgorithms=curve25519-sha256")
    assert options[at - 1] == "-o"


def test_without_kex_the_clients_own_choice_stays():
    assert not any(o.startswith("KexAlgorithms") for o in ssh_options(ssh("root@web1")))
    assert ssh("root@web1").kex is None


@pytest.mark.parametrize("kex", ["curve25519-sha256",
                                 "curve25519-sha256,curve25519-sha256@libssh.org",
                                 "+diffie-hellman-group14-sha256", "^sntrup761x25519-sha512@openssh.com",
                                 "-ecdh-sha2-nistp256"])
def test_kex_takes_what_kexalgorithms_takes(kex):
    assert ssh("root@web1", kex=kex).kex == kex


@pytest.mark.parametrize("kex", ["", "curve25519-sha256 -oProxyCommand=x", "a,,b", "a,",
                                 "curve\n", 25519, ["curve25519-sha256"], "-"])
def test_a_kex_that_is_not_a_list_of_names_is_refused(kex):
    with pytest.raises(OtterfileError, match="KexAlgorithms") as error:
        ssh("root@web1", kex=kex)
    assert error.value.path == "kex"


def test_a_master_made_with_another_kex_is_not_reused():
    keys = {connection_key(h, ssh_options(h)) for h in
            (ssh("root@web1"), ssh("root@web1", kex="curve25519-sha256"),
             ssh("root@web1", kex="curve25519-sha256@libssh.org"))}
    assert len(keys) == 3


def test_a_bad_kex_in_an_otterfile_names_the_field(otterfile):
    path = otterfile('''
from otterfile import *

@target
def web():
    return ssh("root@web1", kex="curve25519 sha256")

@deployment
def production():
    return Deployment(artifact=registry("r.example.com/app:1"), runtime=docker(port=80),
                      targets=[web])
''')
    with pytest.raises(OtterfileError) as error:
        evaluate(load(path))
    assert "kex" in str(error.value) and "curve25519 sha256" in str(error.value)

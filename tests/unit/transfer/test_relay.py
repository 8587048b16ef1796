"""relay=True: the tree a run draws (which target feeds which), the lanes' coordination
with fakes (decline, join, a relay's result, the fallback decisions), where a child is
reached (ssh(peer=), or where its sshd was reached), and the field's errors."""
from __future__ import annotations

import threading

import pytest
from click.testing import CliRunner

from otterfile.transfer.relay import Child, known_hosts, refusals, where
from otterfile.transfer.relay_tree import Tree, assign
from otterfile.cli import main
from otterfile.errors import OtterError, OtterfileError
from otterfile.hosts import local, ssh

pytestmark = pytest.mark.unit


def names(count: int) -> list[str]:
    return [f"t{i:02}" for i in range(1, count + 1)]


def test_one_target_is_a_relay_without_children():
    assert assign(names(1)) == {"t01": []}


def test_three_targets_one_relay_feeds_the_other_two():
    assert assign(names(3)) == {"t01": ["t02", "t03"]}


def test_ten_targets_two_relays_four_children_each():
    tree = assign(names(10))
    assert list(tree) == ["t01", "t02"]
    assert tree == {"t01": ["t03", "t05", "t07", "t09"], "t02": ["t04", "t06", "t08", "t10"]}


def test_twenty_targets_four_relays_every_target_once():
    tree = assign(names(20))
    assert len(tree) == 4 and all(len(kids) == 4 for kids in tree.values())
    placed = list(tree) + [kid for kids in tree.values() for kid in kids]
    assert sorted(placed) == names(20)


def test_none_lacking_no_tree():
    assert assign([]) == {}


def joined(tree: Tree, members: list[str]) -> dict:
    """Every member joins from its own thread (as lanes do); their roles."""
    roles: dict = {}
    threads = [threading.Thread(target=lambda n=n: roles.__setitem__(n, tree.join(n)))
               for n in members]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    return roles


def test_the_tree_is_drawn_once_every_expected_target_joined_or_declined():
    tree = Tree(lambda: 4, gather=30)
    tree.decline("t04")  # has the image: takes no part
    roles = joined(tree, ["t03", "t01", "t02"])
    assert roles["t01"].children == ("t02", "t03") and roles["t01"].relay is None
    assert roles["t02"].relay == "t01" and roles["t03"].relay == "t01"


def test_a_target_late_for_the_tree_gets_no_role():
    tree = Tree(lambda: 5, gather=0.3)  # two never come: drawn after `gather`
    roles = joined(tree, ["t01", "t02", "t03"])
    assert roles["t01"].children == ("t02", "t03")
    late = tree.join("t04")
    assert late.children == () and late.relay is None  # the controller ships to it


def test_a_child_its_relay_served_is_told_so():
    tree = Tree(lambda: 3, gather=30)
    joined(tree, ["t01", "t02", "t03"])
    tree.done("t01", frozenset({"t02"}))
    assert tree.served("t01", "t02") == (True, "")
    assert tree.served("t01", "t03") == (False, "t01 could not pass the image on to it")


def test_a_relay_that_failed_hands_back_its_whole_subtree():
    tree = Tree(lambda: 3, gather=30)
    joined(tree, ["t01", "t02", "t03"])
    tree.done("t01", None)
    assert tree.served("t01", "t02") == (False, "t01 could not relay")
    assert tree.served("t01", "t03") == (False, "t01 could not relay")


def test_a_child_waits_for_its_relay_at_most_so_long():
    tree = Tree(lambda: 2, gather=30, wait=0.3)
    joined(tree, ["t01", "t02"])
    assert tree.served("t01", "t02") == (False, "t01 did not finish relaying in 0s")


def test_a_child_waits_until_its_relay_is_done():
    tree = Tree(lambda: 2, gather=30)
    joined(tree, ["t01", "t02"])
    timer = threading.Timer(0.3, lambda: tree.done("t01", frozenset({"t02"})))
    timer.start()
    assert tree.served("t01", "t02") == (True, "")
    timer.join()


def test_a_child_is_reached_where_its_sshd_was_reached_unless_peer_says():
    said = "otter-peer 172.20.0.4 22\n"
    assert where(Child(None, "", 0), said) == Child(None, "172.20.0.4", 22)
    assert where(Child(None, "target2", 2222), said) == Child(None, "target2", 2222)
    assert where(Child(None, "", 0), "").address == ""  # unknown: the controller ships


@pytest.mark.parametrize("said", ["otter-peer -oProxyCommand=x 22", "otter-peer * 22",
                                  "otter-peer 10.0.0.? 22", "otter-peer !bad 22",
                                  "otter-peer fe80::1%eth0 22", "otter-peer 10.0.0.4 0",
                                  "otter-peer 10.0.0.4 99999", "otter-peer 10.0.0.4 -1",
                                  "otter-peer 10.0.0.4"])
def test_an_address_a_child_reports_is_a_host_and_port_or_an_error_naming_it(said):
    from otterfile.executors.recording import RecordingExecutor
    child = Child(RecordingExecutor(ssh("root@127.0.0.1:2202", name="web2")), "", 0)
    with pytest.raises(OtterError, match="^web2: the relay cannot reach it at"):
        where(child, said + "\n")


def test_a_child_reached_at_an_ipv6_address():
    assert where(Child(None, "", 0), "otter-peer fd00::4 2222\n") == Child(None, "fd00::4", 2222)


def test_a_childs_key_is_read_from_its_known_hosts_and_given_under_the_relays_name(tmp_path):
    import subprocess
    from otterfile.executors.recording import RecordingExecutor
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(tmp_path / "k")],
                   check=True)
    kind, value = (tmp_path / "k.pub").read_text().split()[:2]
    (tmp_path / "known").write_text(f"[127.0.0.1]:2202 {kind} {value}\n")
    host = ssh("root@127.0.0.1:2202", name="web2", known_hosts=str(tmp_path / "known"))
    assert known_hosts([Child(RecordingExecutor(host), "target2", 22),
                        Child(RecordingExecutor(host), "10.0.0.2", 2222)]) == \
        f"target2 {kind} {value}\n[10.0.0.2]:2222 {kind} {value}\n"
    other = ssh("root@127.0.0.1:2203", name="web3", known_hosts=str(tmp_path / "known"))
    with pytest.raises(OtterError, match=r"no host key of \[127.0.0.1\]:2203 in "):
        known_hosts([Child(RecordingExecutor(other), "target3")])
    with pytest.raises(OtterError, match="^builder has no host key"):
        known_hosts([Child(RecordingExecutor(local("builder")), "builder")])


def test_what_went_wrong_on_a_child_is_said_by_name():
    from otterfile.executors.recording import RecordingExecutor
    kids = [Child(RecordingExecutor(ssh(f"root@10.0.0.{i}", name=f"web{i}")), f"10.0.0.{i}")
            for i in (2, 3)]
    said = ("otter-relay 1 0 Loaded image ID: sha256:ab\n"
            "otter-relay 2 3 otter-receive: refused what the archive carried besides x\n")
    assert refusals(said, kids, "web1") == [
        "web3: the transfer from web1 ended with exit 3: otter-receive: refused what the "
        "archive carried besides x"]


def test_every_child_asked_to_accept_the_key_removes_it_whatever_failed():
    """The second child's authorize fails: nobody relays, both children remove the key (the
    first its exact line, the second whatever this transfer left), and a removal that
    failed is said by name."""
    from io import BytesIO

    from otterfile.transfer.relay import relay_image
    from otterfile.executors.recording import RecordingExecutor

    def action(name):
        return lambda command: name in command.argv
    first = RecordingExecutor(ssh("root@10.0.0.2", name="web2"), {
        action("authorize"): "otter-authorized 1234567\notter-peer 10.0.0.2 22\n",
        action("unauthorize"): 1})
    second = RecordingExecutor(ssh("root@10.0.0.3", name="web3"), {action("authorize"): 1})
    relay, said = RecordingExecutor(ssh("root@10.0.0.1", name="web1")), []
    with pytest.raises(OtterError, match="authorize the relay on web3 failed"):
        relay_image(BytesIO(b""), "sha256:" + "ab" * 32, relay, [Child(first, ""),
                    Child(second, "")], run_id="r1", on_info=said.append)
    assert relay.commands == []  # no folder, no transfer
    removed = [[c.argv[4:8] for c in child.commands if "unauthorize" in c.argv]
               for child in (first, second)]
    token = removed[0][0][1]  # the transfer's, on both
    assert removed == [[("unauthorize", token, "r1", "1234567")],
                       [("unauthorize", token, "r1", "")]]
    assert said == ["web2: the relay's key is still in its authorized_keys (exit 1); it is "
                    "refused after 1234567 and removed by the next relay to it"]


def test_peer_is_host_or_host_port():
    assert ssh("root@127.0.0.1:2202", peer="target2").peer() == ("target2", None)
    assert ssh("root@127.0.0.1:2202", peer="target2:2222").peer() == ("target2", 2222)
    assert ssh("root@127.0.0.1:2202").peer() == ("", None)
    assert local().peer() is None  # never a relay's child
    assert ssh("root@h", peer="[fd00::3]:2222").peer() == ("fd00::3", 2222)
    assert ssh("root@h", peer="[fd00::3]").peer() == ("fd00::3", None)
    for bad in ("deploy@target2", "target2:0", "a:b:c", 3, "-oProxyCommand=x", "*", "web?",
                "!web", "web,db", " target2", "tar get2", "fe80::1%eth0", "target2:65536",
                "[fd00::3"):
        with pytest.raises(OtterfileError, match="peer"):
            ssh("root@127.0.0.1:2202", peer=bad)


FILE = '''
from otterfile import *

@artifact
def web():
    return build(path=".", command="docker build -t app .")

@deployment
def production():
    return Deployment(artifact=web, runtime=docker(port=80),
                      targets=[ssh("root@a"), ssh("root@b")], relay={relay})
'''


@pytest.mark.parametrize("value", ['"yes"', "1", "[True]"])
def test_a_bad_relay_names_file_line_and_field(tmp_path, value):
    path = tmp_path / "Otterfile.py"
    path.write_text(FILE.format(relay=value))
    result = CliRunner().invoke(main, ["-f", str(path), "run", "production"])
    assert result.exit_code == 2
    assert f"{path}:8: deployment production/relay: expected True or False" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("value,relay", [("True", True), ("False", False), ("None", False)])
def test_relay_is_on_or_off(tmp_path, value, relay):
    from otterfile.load.evaluate import evaluate
    from otterfile.load.loader import load
    path = tmp_path / "Otterfile.py"
    path.write_text(FILE.format(relay=value))
    assert evaluate(load(path)).deployments["production"].relay is relay


def test_a_dry_run_of_a_relayed_deployment_ships_each_target_directly(tmp_path):
    import json
    path = tmp_path / "Otterfile.py"
    path.write_text(FILE.format(relay="True"))
    result = CliRunner().invoke(main, ["-f", str(path), "--json", "run", "production",
                                       "--dry-run"])
    assert result.exit_code == 0, result.output
    said = [json.loads(line).get("message") or "" for line in result.output.splitlines()
            if line.startswith("{")]
    assert not [m for m in said if "relay" in m and "would run" not in m], said  # no tree
    ships = [m for m in said if m.startswith("b: would run: ") and "docker load" in m]
    assert ships, said

"""The other tools' files for one set of hosts, tuned as their users would tune them.

Ansible: pipelining, ControlMaster=auto with ControlPersist=60s, forks=20, no fact gathering.
pyinfra: `-y` (no prompt), its default parallelism (all hosts at once).
Fabric:  ThreadingGroup (one thread per host); Connection.put per host in threads.
"""
from __future__ import annotations

import json
from pathlib import Path

from .hosts import Host

ANSIBLE_CFG = """[defaults]
inventory = {work}/inventory.ini
forks = 20
host_key_checking = True
interpreter_python = /usr/bin/python3
gathering = explicit
retry_files_enabled = False
[ssh_connection]
pipelining = True
ssh_args = -F /dev/null -o IdentitiesOnly=yes -o ControlMaster=auto -o ControlPersist=60s -o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes
control_path_dir = {work}/cp
"""
PLAY = "- hosts: bench\n  gather_facts: false\n  tasks:\n"
FABRIC = '''import json, sys, threading
from fabric import Connection, ThreadingGroup
HOSTS, KEY = json.loads(@HOSTS@), @KEY@
KW = {"key_filename": KEY}
def group():
    return ThreadingGroup(*HOSTS, connect_kwargs=KW)
'''
FABRIC_W1 = FABRIC + '''g = group()
for i in range(20):
    g.run(f"echo {i}", hide=True)
g.close()
'''
FABRIC_W2 = FABRIC + '''def put(host):
    with Connection(host, connect_kwargs=KW) as c:
        c.put(sys.argv[1], "/tmp/bench-w2.bin")
threads = [threading.Thread(target=put, args=(h,)) for h in HOSTS]
for t in threads: t.start()
for t in threads: t.join()
'''
PYINFRA_W1 = ("from pyinfra.operations import server\n"
              "for i in range(20):\n"
              "    server.shell(name=f'echo {i}', commands=[f'echo {i}'])\n")
PYINFRA_W2 = ("import sys\nfrom pyinfra.operations import files\n"
              "files.put(name='50 MB', src={src!r}, dest='/tmp/bench-w2.bin')\n")
PYINFRA_W4 = """from pyinfra.operations import docker, files, server, systemd
files.put(name="image archive", src={archive!r}, dest="/var/tmp/bench-app.tar")
server.shell(name="image loaded",
             commands=["docker image inspect {image} >/dev/null 2>&1 || docker load -i /var/tmp/bench-app.tar"])
docker.container(name="app container", container="bench-pyinfra", image={image!r},
                 ports=["127.0.0.1:29998:8080"], labels=["otter.deployment=bench"],
                 present=True, start=True)
files.put(name="caddy site", src={caddyfile!r}, dest="/etc/caddy/pyinfra-site.caddy")
systemd.service(name="caddy running", service="caddy", running=True)
"""
CADDYFILE = ":80 {\n\treverse_proxy 127.0.0.1:29998\n}\n"
PYINFRA_W6 = """from pyinfra.operations import files, server, systemd
files.put(name="tarball", src={tarball!r}, dest="/var/tmp/bench-app.tar.gz")
server.shell(name="unpacked", commands=["test -f /srv/bench-pyinfra/server.py || "
             "(mkdir -p /srv/bench-pyinfra && tar -xzf /var/tmp/bench-app.tar.gz -C /srv/bench-pyinfra)"])
unit = files.put(name="unit file", src={unit!r}, dest="/etc/systemd/system/bench-pyinfra.service")
systemd.daemon_reload(name="units read again", _if=unit.did_change)
systemd.service(name="app running", service="bench-pyinfra", running=True, enabled=True)
files.put(name="caddy site", src={caddyfile!r}, dest="/etc/caddy/pyinfra-site.caddy")
systemd.service(name="caddy running", service="caddy", running=True)
"""
UNIT = """[Unit]
Description=bench app deployed by pyinfra
After=network.target

[Service]
WorkingDirectory=/srv/bench-pyinfra
ExecStart=/usr/bin/python3 server.py --port 29996
Restart=on-failure

[Install]
WantedBy=multi-user.target
"""
CADDYFILE_W6 = ":80 {\n\treverse_proxy 127.0.0.1:29996\n}\n"  # put only: caddy does not import it


class Kit:
    """The files every tool reads for `hosts`, in `work` (one folder per host set)."""

    def __init__(self, work: Path, hosts: list[Host]):
        self.work, self.hosts = work, hosts
        work.mkdir(parents=True, exist_ok=True)
        (work / "cp").mkdir(exist_ok=True)
        self.ansible_cfg = work / "ansible.cfg"
        self.ansible_cfg.write_text(ANSIBLE_CFG.format(work=work,
                                                       known_hosts=hosts[0].known_hosts))
        (work / "inventory.ini").write_text("[bench]\n" + "".join(
            f"{h.name} ansible_host=127.0.0.1 ansible_port={h.port} ansible_user=root "
            f"ansible_ssh_private_key_file={h.key}\n" for h in hosts))
        self.pyinfra_inventory = work / "inventory.py"
        entries = [(h.name, {"ssh_hostname": "127.0.0.1", "ssh_port": h.port,
                             "ssh_user": "root", "ssh_key": h.key,
                             "ssh_known_hosts_file": h.known_hosts,
                             "ssh_strict_host_key_checking": "yes"}) for h in hosts]
        self.pyinfra_inventory.write_text(f"hosts = {entries!r}\n")

    def write(self, name: str, text: str) -> Path:
        path = self.work / name
        path.write_text(text)
        return path

    def fabric(self, name: str, template: str) -> Path:
        addresses = [f"root@127.0.0.1:{h.port}" for h in self.hosts]
        return self.write(name, template.replace("@HOSTS@", repr(json.dumps(addresses)))
                          .replace("@KEY@", repr(self.hosts[0].key)))

    def playbook(self, name: str, tasks: list[str]) -> Path:
        return self.write(name, PLAY + "".join(f"    - {t}\n" for t in tasks))

    @property
    def ansible_env(self) -> dict[str, str]:
        return {"ANSIBLE_CONFIG": str(self.ansible_cfg), "ANSIBLE_NOCOLOR": "1"}

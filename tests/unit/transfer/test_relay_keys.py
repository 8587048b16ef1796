"""A relay transfer's key on a child, with the real scripts run locally (sh, a temporary
HOME): scripts/relay-keys.sh adds one exact line and removes exactly it, leaving the
operator's bytes as they were (no final newline, CRLF, look-alike comments), serialised,
atomic, verified, sweeping what killed runs left; scripts/relay-receive.sh, the key's forced
command, keeps only the announced image (a fake docker on PATH)."""
from __future__ import annotations

import base64
import os
import shutil
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from otterfile import scripts
from otterfile.transfer import relay_keys as keys
from otterfile.errors import OtterError
from tests.fakes import executable

pytestmark = pytest.mark.unit

DIGEST = "sha256:" + "ab" * 32
OTHER = "sha256:" + "cd" * 32
OPERATOR = (b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOperatorOne alice@laptop\n"
            b"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQOperatorTwo bob@desk")  # no final newline


def grant(run: str = "run1", image: str | None = None) -> keys.Grant:
    blob = base64.b64encode(os.urandom(51)).decode()
    return keys.grant(f"ssh-ed25519 {blob} otter-relay\n", run_id=run, engine="docker",
                      digest=DIGEST, image=image)


def run(command, home: Path, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HOME": str(home), "SSH_CONNECTION": "10.9.8.7 50000 172.20.0.4 22",
           "PATH": path or os.environ["PATH"]}
    return subprocess.run(command.argv_values(), input=command.stdin_bytes(), env=env,
                          capture_output=True, timeout=120)


def authorize(home: Path, g: keys.Grant, **options) -> str:
    result = run(keys.authorize(g), home, **options)
    assert result.returncode == 0, result.stderr.decode()
    expires = keys.authorized(result.stdout.decode())
    assert expires, result.stdout
    return expires


def unauthorize(home: Path, g: keys.Grant, expires: str | None, **options) -> None:
    result = run(keys.unauthorize(g, expires), home, **options)
    assert result.returncode == 0, result.stderr.decode()


@pytest.fixture
def home(tmp_path) -> Path:
    folder = tmp_path / "home"
    (folder / ".ssh").mkdir(parents=True, mode=0o700)
    return folder


def keys_file(home: Path) -> Path:
    return home / ".ssh" / "authorized_keys"


def line_of(home: Path, g: keys.Grant, expires: str) -> str:
    return (f'restrict,command="sh {home}/.ssh/otter-relay/{g.token}.sh docker {DIGEST} '
            f'{g.tag} {expires}" ssh-ed25519 {g.key} otter-relay run={g.run} expires={expires}')


def leftovers(home: Path) -> list[str]:
    """Temporary files of ours anywhere under ~/.ssh."""
    return [p.name for p in (home / ".ssh").rglob(".otter-relay.*")]


def test_a_file_without_a_final_newline_gets_one_first_and_is_byte_identical_after(home):
    keys_file(home).write_bytes(OPERATOR)
    g = grant()
    expires = authorize(home, g)
    lines = keys_file(home).read_bytes().split(b"\n")
    # the operator's last key stays whole, ours is a line of its own
    assert lines == OPERATOR.split(b"\n") + [line_of(home, g, expires).encode(), b""]
    assert (home / ".ssh" / "otter-relay" / f"{g.token}.sh").read_text() == \
        scripts.load("relay-receive.sh")
    unauthorize(home, g, expires)
    assert keys_file(home).read_bytes() == OPERATOR
    assert not (home / ".ssh" / "otter-relay" / f"{g.token}.sh").exists()
    assert leftovers(home) == []


@pytest.mark.parametrize("text", [b"ssh-ed25519 AAAAone a@b\r\nssh-ed25519 AAAAtwo c@d\r\n",
                                  b"ssh-ed25519 AAAAone a@b\r\nssh-ed25519 AAAAtwo c@d\r",
                                  b"", b"\n\n# a comment\n"])
def test_crlf_empty_and_blank_files_are_byte_identical_after(home, text):
    keys_file(home).write_bytes(text)
    g = grant()
    expires = authorize(home, g)
    assert line_of(home, g, expires).encode() + b"\n" in keys_file(home).read_bytes()
    unauthorize(home, g, expires)
    assert keys_file(home).read_bytes() == text


def test_a_missing_file_is_created_for_the_keys_and_removed_with_the_last(home):
    one, two = grant(), grant()
    first = authorize(home, one)
    assert stat.S_IMODE(keys_file(home).stat().st_mode) == 0o600
    second = authorize(home, two)
    unauthorize(home, one, first)
    assert keys_file(home).read_text() == line_of(home, two, second) + "\n"
    unauthorize(home, two, second)
    assert not keys_file(home).exists()


def test_a_line_the_operator_added_meanwhile_keeps_the_newline_before_it(home):
    keys_file(home).write_bytes(OPERATOR)
    g = grant()
    expires = authorize(home, g)
    with keys_file(home).open("ab") as file:
        file.write(b"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINew carol@new\n")
    unauthorize(home, g, expires)
    assert keys_file(home).read_bytes() == \
        OPERATOR + b"\nssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAINew carol@new\n"


def test_only_the_exact_line_goes_never_one_that_ends_or_reads_the_same(home):
    keys_file(home).write_bytes(OPERATOR + b"\n")
    g = grant()
    expires = authorize(home, g)
    ours = line_of(home, g, expires)
    look_alikes = [f"ssh-ed25519 AAAAother admin otter-relay run={g.run} expires={expires}",
                   f"# {ours}", f"{ours} ", "ssh-ed25519 AAAAold me otter-relay run=x expires=1"]
    with keys_file(home).open("a") as file:
        file.write("\n".join(look_alikes) + "\n")
    kept = OPERATOR + b"\n" + "\n".join(look_alikes).encode() + b"\n"
    unauthorize(home, g, expires)
    assert keys_file(home).read_bytes() == kept
    # the next authorize's sweep leaves them too (not of otter's form, however they read)
    other = grant("run2")
    unauthorize(home, other, authorize(home, other))
    assert keys_file(home).read_bytes() == kept


def test_a_killed_runs_key_is_swept_by_the_next_authorize_a_live_one_kept(home, tmp_path):
    keys_file(home).write_bytes(OPERATOR)
    past = tmp_path / "past"
    past.mkdir()
    executable(past / "date", "#!/bin/sh\necho 1000\n")  # the killed run's clock: long ago
    killed, live, fresh = grant("killed"), grant("live"), grant("fresh")
    old = authorize(home, killed, path=f"{past}:{os.environ['PATH']}")
    assert old == str(1000 + keys.TTL)
    kept = authorize(home, live)
    new = authorize(home, fresh)
    text = keys_file(home).read_text()
    assert line_of(home, killed, old) not in text
    assert not (home / ".ssh" / "otter-relay" / f"{killed.token}.sh").exists()
    assert line_of(home, live, kept) in text and line_of(home, fresh, new) in text
    unauthorize(home, fresh, new)
    unauthorize(home, live, kept)
    assert keys_file(home).read_bytes() == OPERATOR
    assert sorted(p.name for p in (home / ".ssh" / "otter-relay").iterdir()) == ["lock"]


def test_an_unknown_expiry_removes_this_transfers_line_only(home):
    keys_file(home).write_bytes(OPERATOR)
    one, two = grant(), grant()
    authorize(home, one)
    expires = authorize(home, two)
    unauthorize(home, one, None)  # its authorize's answer was lost
    assert keys_file(home).read_bytes() == OPERATOR + b"\n" + \
        line_of(home, two, expires).encode() + b"\n"
    unauthorize(home, two, expires)
    assert keys_file(home).read_bytes() == OPERATOR


def without_flock(tmp_path: Path) -> str:
    """A PATH with every tool the scripts use but flock: the lock folder is used instead."""
    folder = tmp_path / "noflock"
    folder.mkdir()
    for tool in ("sh", "awk", "grep", "cat", "mktemp", "cp", "dd", "cmp", "ls", "mv", "rm",
                 "mkdir", "tail", "date", "cksum", "dirname", "readlink", "sync", "sleep"):
        (folder / tool).symlink_to(shutil.which(tool))
    return str(folder)


@pytest.mark.parametrize("lock", ["flock", "lock folder"])
def test_concurrent_runs_each_add_and_remove_their_own(home, tmp_path, lock):
    keys_file(home).write_bytes(OPERATOR)
    path = without_flock(tmp_path) if lock == "lock folder" else None
    grants = [grant(f"run{i}") for i in range(6)]
    with ThreadPoolExecutor(len(grants)) as pool:
        expiry = list(pool.map(lambda g: authorize(home, g, path=path), grants))
    lines = keys_file(home).read_text().splitlines()
    for g, expires in zip(grants, expiry):
        assert lines.count(line_of(home, g, expires)) == 1
    with ThreadPoolExecutor(len(grants)) as pool:
        list(pool.map(lambda ge: unauthorize(home, *ge, path=path), zip(grants, expiry)))
    assert keys_file(home).read_bytes() == OPERATOR
    assert leftovers(home) == []


def test_mode_and_owner_are_kept(home):
    keys_file(home).write_bytes(OPERATOR)
    keys_file(home).chmod(0o640)
    owner = (1234, 2345) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(keys_file(home), *owner)
    g = grant()
    expires = authorize(home, g)
    for _ in range(2):
        found = keys_file(home).stat()
        assert (stat.S_IMODE(found.st_mode), found.st_uid, found.st_gid) == (0o640, *owner)
        unauthorize(home, g, expires)
    assert keys_file(home).read_bytes() == OPERATOR


def test_a_symlinked_file_is_edited_at_its_target_and_stays_a_link(home, tmp_path):
    real = tmp_path / "managed" / "alice.keys"
    real.parent.mkdir()
    real.write_bytes(OPERATOR)
    keys_file(home).symlink_to(real)
    g = grant()
    expires = authorize(home, g)
    assert keys_file(home).is_symlink() and line_of(home, g, expires) in real.read_text()
    unauthorize(home, g, expires)
    assert keys_file(home).is_symlink() and real.read_bytes() == OPERATOR
    assert leftovers(home) == [] and not list(real.parent.glob(".otter-relay.*"))


SHORT_DD = """#!/bin/sh
for a; do case $a in if=*) i=${a#if=} ;; of=*) o=${a#of=} ;; esac; done
head -c 20 "$i" > "$o"
exit ${DD_EXIT:-0}
"""


@pytest.mark.parametrize("failing", ["short write", "dd fails"])
def test_a_failed_write_leaves_the_original(home, tmp_path, failing, monkeypatch):
    keys_file(home).write_bytes(OPERATOR)
    fake = tmp_path / "fake"
    fake.mkdir()
    executable(fake / "dd", SHORT_DD)
    monkeypatch.setenv("DD_EXIT", "1" if failing == "dd fails" else "0")
    path = f"{fake}:{os.environ['PATH']}"
    g = grant()
    result = run(keys.authorize(g), home, path=path)
    assert result.returncode == 1
    assert b"authorized_keys left as it was" in result.stderr
    assert keys_file(home).read_bytes() == OPERATOR and leftovers(home) == []
    expires = authorize(home, g)  # and the same when removing
    added = keys_file(home).read_bytes()
    result = run(keys.unauthorize(g, expires), home, path=path)
    assert result.returncode == 1, result.stderr
    assert keys_file(home).read_bytes() == added and leftovers(home) == []


BAD = ["a b", "x;rm -rf /", 'x"', "", "a\nb", "$(id)"]


@pytest.mark.parametrize("field,value", [(f, v) for f in ("run", "tag", "token", "digest",
                                                          "key", "engine") for v in BAD]
                         + [("tag", "-oX"), ("token", "-oX"), ("key_type", "-oX")])
def test_bad_values_never_reach_the_file(home, field, value):
    keys_file(home).write_bytes(OPERATOR)
    bad = keys.Grant(**{**grant().__dict__, field: value})
    result = run(keys.authorize(bad), home)
    assert result.returncode == 1 and b"otter-relay: bad" in result.stderr
    assert keys_file(home).read_bytes() == OPERATOR


def test_a_grant_names_the_tag_as_docker_load_prints_it():
    assert grant(image="app").tag == "app:latest"
    assert grant(image="docker.io/library/app:2").tag == "app:2"
    assert grant(image="registry.local:5000/team/app").tag == "registry.local:5000/team/app:latest"
    assert grant(image="app@sha256:" + "0" * 64).tag == "-"
    assert grant().tag == "-"
    assert grant(run="weird run/id!").run == "weird-run-id-"
    with pytest.raises(OtterError, match="ssh-ed25519"):
        keys.grant("ssh-rsa AAAA x", run_id="r", engine="docker", digest=DIGEST)


# the forced command: a docker whose state is two files (tags: NAME ID; ids: ID), and whose
# `load` reads an "archive" of lines `ID id` or `TAG name id` and answers as docker 20.10 does
FAKE_DOCKER = r"""#!/bin/sh
s=$STATE
drop() { awk -v r="$1" -v c="$2" '$c != r' "$s/$3" > "$s/x"; mv "$s/x" "$s/$3"; }
case "$1 ${2:-}" in
  "image ls") if [ "$3" = -aq ]; then cat "$s/ids"; else cat "$s/tags"; fi; exit 0 ;;
  "image inspect")
    ref=$3; [ "$3" = --format ] && ref=$5
    id=$(awk -v r="$ref" '$1 == r { print $2 }' "$s/tags")
    if [ -z "$id" ] && grep -qx "$ref" "$s/ids"; then id=$ref; fi
    [ -n "$id" ] || { echo "Error: No such image: $ref" >&2; exit 1; }
    echo "$id"; exit 0 ;;
  "image rm")
    echo "rm $*" >> "$s/log"; ref=$3; [ "$3" = -f ] && ref=$4
    if grep -qx "$ref" "$s/ids"; then drop "$ref" 1 ids; drop "$ref" 2 tags
    else drop "$ref" 1 tags; fi
    exit 0 ;;
esac
case $1 in
  load)
    echo load >> "$s/log"
    while read -r kind a b; do
      case $kind in
        ID) grep -qx "$a" "$s/ids" || echo "$a" >> "$s/ids"; echo "Loaded image ID: $a" ;;
        TAG)
          grep -qx "$b" "$s/ids" || echo "$b" >> "$s/ids"
          old=$(awk -v r="$a" '$1 == r { print $2 }' "$s/tags")
          if [ -n "$old" ] && [ "$old" != "$b" ]; then
            echo "The image $a already exists, renaming the old one with ID $old to empty string"
          fi
          drop "$a" 1 tags; echo "$a $b" >> "$s/tags"; echo "Loaded image: $a" ;;
      esac
    done
    exit "${LOAD_EXIT:-0}" ;;
  tag) echo "tag $2 $3" >> "$s/log"; drop "$3" 1 tags; echo "$3 $2" >> "$s/tags"; exit 0 ;;
esac
echo "fake docker: $*" >&2; exit 2
"""
NGINX = "sha256:" + "11" * 32


@pytest.fixture
def engine(tmp_path, monkeypatch) -> Path:
    """A fake docker holding nginx:latest; its state folder."""
    state = tmp_path / "state"
    state.mkdir()
    (state / "tags").write_text(f"nginx:latest {NGINX}\n")
    (state / "ids").write_text(f"{NGINX}\n")
    (state / "log").write_text("")
    fake = tmp_path / "bin"
    fake.mkdir()
    executable(fake / "docker", FAKE_DOCKER)
    monkeypatch.setenv("STATE", str(state))
    monkeypatch.setenv("PATH", f"{fake}:{os.environ['PATH']}")
    return state


def receive(archive: str, tag: str = "-", expires: int = 4_000_000_000):
    return subprocess.run(["sh", "-c", scripts.load("relay-receive.sh"), "sh", "docker",
                           DIGEST, tag, str(expires)], input=archive.encode(),
                          capture_output=True, timeout=60)


def state(folder: Path) -> tuple[list[str], list[str]]:
    return (sorted((folder / "tags").read_text().splitlines()),
            sorted((folder / "ids").read_text().splitlines()))


def test_the_forced_command_loads_the_announced_image(engine):
    result = receive(f"ID {DIGEST}\n")
    assert result.returncode == 0, result.stderr
    assert state(engine) == ([f"nginx:latest {NGINX}"], sorted([NGINX, DIGEST]))


def test_the_forced_command_accepts_the_announced_tag_on_the_announced_image(engine):
    result = receive(f"TAG app:latest {DIGEST}\n", tag="app:latest")
    assert result.returncode == 0, result.stderr
    assert f"app:latest {DIGEST}" in state(engine)[0]


def test_the_forced_command_refuses_and_removes_another_image(engine):
    result = receive(f"ID {OTHER}\n")
    assert result.returncode == 3
    assert f"refused what the archive carried besides {DIGEST}: {OTHER}" in \
        result.stderr.decode()
    assert state(engine) == ([f"nginx:latest {NGINX}"], [NGINX])  # as before


def test_the_forced_command_undoes_a_retag_of_an_existing_name(engine):
    result = receive(f"ID {DIGEST}\nTAG nginx:latest {OTHER}\nTAG redis:7 {DIGEST}\n")
    assert result.returncode == 3
    # nginx:latest points at its old image again, OTHER is gone, redis:7 was never made
    assert state(engine) == ([f"nginx:latest {NGINX}"], sorted([NGINX, DIGEST]))
    assert f"tag {NGINX} nginx:latest" in (engine / "log").read_text()


def test_the_forced_command_says_when_its_image_is_missing(engine):
    assert receive("").returncode == 4


def test_the_forced_command_keeps_an_image_that_was_there_before(engine):
    result = receive(f"TAG mine:1 {NGINX}\n")  # an image it had, under a new name
    assert result.returncode == 3
    assert state(engine) == ([f"nginx:latest {NGINX}"], [NGINX])


def test_an_expired_key_loads_nothing(engine):
    result = receive(f"ID {DIGEST}\n", expires=1000)
    assert result.returncode == 5 and b"expired" in result.stderr
    assert "load" not in (engine / "log").read_text()


def test_a_failed_load_is_its_exit_and_what_it_loaded_is_undone(engine, monkeypatch):
    monkeypatch.setenv("LOAD_EXIT", "1")
    assert receive(f"ID {OTHER}\n").returncode == 1
    assert state(engine) == ([f"nginx:latest {NGINX}"], [NGINX])


def test_the_scripts_are_shellcheck_clean():
    assert shutil.which("shellcheck"), "shellcheck is missing: run scripts/setup.sh"
    names = sorted(str(p) for p in scripts.FOLDER.glob("*.sh"))
    result = subprocess.run(["shellcheck", "-s", "sh", *names], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout

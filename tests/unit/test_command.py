"""otterfile/command.py: a command shown with its secrets masked and quoted once, a secret kept
out of argv and shell lines, and a sequence run as one round trip."""
import pytest

from otterfile.command import Command, cmd
from otterfile.secrets import Secret


def test_command_display_masks_secrets_and_quotes_once():
    command = Command(("echo", "a b"), cwd="/srv/my app",
                      env={"TOKEN": Secret("T", "tok"), "MODE": "x y"})
    assert command.display() == "env TOKEN=*** MODE='x y' cd '/srv/my app' && echo 'a b'"
    assert command.secret
    assert command.shell_line(without_secret_env=True) == \
        "cd '/srv/my app' && env 'MODE=x y' echo 'a b'"
    assert cmd("ls", "$HOME; rm -rf /").shell_line() == "ls '$HOME; rm -rf /'"


def test_a_secret_never_goes_into_argv_or_a_shell_line():
    with pytest.raises(ValueError, match="a secret cannot stand in argv"):
        Command(("deploy", Secret("S", "hunter2")), description="deploy")
    with_env = cmd("git", "fetch", env={"OTTER_GIT_PASSWORD": Secret("T", "tok")},
                   description="fetch")
    with pytest.raises(ValueError, match="fetch: secret env OTTER_GIT_PASSWORD cannot go"):
        with_env.shell_line()  # nor into a script that embeds it (sequence, lock, state)
    from otterfile.command import sequence
    with pytest.raises(ValueError, match="secret env"):
        sequence(cmd("true"), with_env)


def test_sequence_is_one_round_trip_stopping_at_the_first_failure(tmp_path):
    from otterfile.command import script, sequence
    from otterfile.executors.local import LocalExecutor
    out = tmp_path / "out"
    both = sequence(cmd("touch", str(tmp_path / "a b")),
                    script('cat > "$1"', args=[str(out)], stdin=b"from stdin"))
    assert both.argv[:2] == ("sh", "-c") and both.stdin == b"from stdin"
    result = LocalExecutor().run(both)
    assert result.ok and out.read_bytes() == b"from stdin" and (tmp_path / "a b").exists()
    failing = sequence(cmd("false"), cmd("touch", str(tmp_path / "never")))
    assert LocalExecutor().run(failing).exited == 1
    assert not (tmp_path / "never").exists()
    with pytest.raises(ValueError, match="only the last"):
        sequence(script("cat", stdin=b"x"), cmd("true"))

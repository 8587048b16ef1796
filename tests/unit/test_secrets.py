import pytest

from otterfile.command import Command, cmd
from otterfile.errors import OtterfileError
from otterfile.secrets import Secret, SecretStore, parse_dotenv, secret


def test_secret_never_prints():
    value = Secret("DB", "hunter2")
    assert str(value) == "***" and "hunter2" not in repr(value)
    assert value.reveal() == "hunter2"
    with pytest.raises(OtterfileError, match="not resolved"):
        secret("DB").reveal()


def test_environment_wins_over_file(tmp_path):
    (tmp_path / ".otter").mkdir()
    (tmp_path / ".otter" / "secrets").write_text("# comment\nA=from-file\nB='quoted value'\n"
                                                 "export C=$(echo from-command)\n")
    store = SecretStore(tmp_path, environ={"A": "from-env"})
    assert store.lookup("A") == "from-env"
    assert store.lookup("B") == "quoted value"
    assert store.lookup("C") == "from-command"
    with pytest.raises(OtterfileError, match="secret D is not set"):
        store.lookup("D")


def test_failing_secret_command_is_an_error(tmp_path):
    (tmp_path / ".otter").mkdir()
    (tmp_path / ".otter" / "secrets").write_text("X=$(exit 3)\n")
    with pytest.raises(OtterfileError, match="exited 3"):
        SecretStore(tmp_path, environ={}).lookup("X")


def test_dotenv_syntax_error_names_line():
    with pytest.raises(OtterfileError, match="secrets:2"):
        parse_dotenv("A=1\nnot a line\n")


def test_command_display_masks_secrets_and_quotes_once():
    command = Command(("echo", "a b", Secret("S", "hunter2")), cwd="/srv/my app",
                      env={"TOKEN": Secret("T", "tok")})
    assert command.display() == "env TOKEN=*** cd '/srv/my app' && echo 'a b' ***"
    assert command.secret
    assert command.shell_line() == "cd '/srv/my app' && env TOKEN=tok echo 'a b' hunter2"
    assert cmd("ls", "$HOME; rm -rf /").shell_line() == "ls '$HOME; rm -rf /'"


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

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

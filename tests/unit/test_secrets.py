"""secrets.py and run/secret_store.py: a secret never printed, looked up in the environment,
the secrets file or its command, a value with a line break refused, and through the command
line refused or warned about before anything runs."""
import pytest
from click.testing import CliRunner

from otterfile.cli import main
from otterfile.errors import OtterfileError
from otterfile.run.secret_store import SecretStore
from otterfile.secrets import Secret, secret


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


def test_dotenv_syntax_error_names_line(tmp_path):
    (tmp_path / ".otter").mkdir()
    (tmp_path / ".otter" / "secrets").write_text("A=1\nnot a line\n", encoding="utf-8")
    (tmp_path / ".otter" / "secrets").chmod(0o600)
    with pytest.raises(OtterfileError, match="secrets:2"):
        SecretStore(tmp_path, environ={}).lookup("A")


def secrets_file(folder, text: str | bytes, mode: int = 0o600):
    (folder / ".otter").mkdir(exist_ok=True)
    path = folder / ".otter" / "secrets"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    path.chmod(mode)
    return path


@pytest.mark.parametrize("char", ["\n", "\r", "\0"])
def test_value_with_a_line_break_or_nul_is_refused_from_the_environment(char):
    store = SecretStore(None, environ={"DB": f"hunter{char}2"})
    with pytest.raises(OtterfileError, match="secret DB holds") as caught:
        store.resolve(secret("DB"))
    assert "hunter" not in str(caught.value)


def test_value_with_a_line_break_is_refused_from_the_file_and_its_command(tmp_path):
    path = secrets_file(tmp_path, "A=ok\nB=hunter\r2\nC=$(printf 'hun\\nter')\n")
    store = SecretStore(tmp_path, environ={})
    assert store.lookup("A") == "ok"
    with pytest.raises(OtterfileError, match="secret B holds a carriage return") as caught:
        store.lookup("B")
    assert (caught.value.file, caught.value.line) == (str(path), 2)
    with pytest.raises(OtterfileError, match="secret C holds a newline") as caught:
        store.lookup("C")
    assert (caught.value.file, caught.value.line) == (str(path), 3)
    assert "hun" not in str(caught.value)


def test_secrets_file_errors_name_the_file_and_its_line(tmp_path):
    path = secrets_file(tmp_path, "# comment\nX=$(exit 3)\n")
    with pytest.raises(OtterfileError, match="exited 3") as caught:
        SecretStore(tmp_path, environ={}).lookup("X")
    assert (caught.value.file, caught.value.line) == (str(path), 2)
    secrets_file(tmp_path, "A=1\n\nnot a line\n")
    with pytest.raises(OtterfileError, match="NAME=VALUE") as caught:
        SecretStore(tmp_path, environ={}).lookup("A")
    assert (caught.value.file, caught.value.line) == (str(path), 3)
    secrets_file(tmp_path, b"A=1\nB=caf\xe9\n")
    with pytest.raises(OtterfileError, match="not UTF-8") as caught:
        SecretStore(tmp_path, environ={}).lookup("A")
    assert (caught.value.file, caught.value.line) == (str(path), 2)


def test_crlf_secrets_file_reads_as_lines(tmp_path):
    secrets_file(tmp_path, "A=1\r\nB='two words'\r\n")
    store = SecretStore(tmp_path, environ={})
    assert (store.lookup("A"), store.lookup("B")) == ("1", "two words")


def test_secrets_file_others_may_read_is_warned_about_once(tmp_path, capsys):
    path = secrets_file(tmp_path, "A=1\nB=2\n", mode=0o640)
    store = SecretStore(tmp_path, environ={})
    assert (store.lookup("A"), store.lookup("B")) == ("1", "2")
    SecretStore(tmp_path, environ={}).lookup("A")  # a second store (run: env, then tokens)
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and str(path) in err and "chmod 600" in err
    path.chmod(0o600)
    SecretStore(tmp_path, environ={}).lookup("A")
    assert capsys.readouterr().err == ""


def test_secret_command_runs_through_the_local_executor(tmp_path, monkeypatch):
    from otterfile.executors import local
    from otterfile.executors.base import Result
    seen = []

    def run(self, command, **kwargs):
        seen.append(command)
        return Result(command, 0, stdout="from-executor\n")
    monkeypatch.setattr(local.LocalExecutor, "run", run)
    secrets_file(tmp_path, "T=$(vault read token)\n")
    assert SecretStore(tmp_path, environ={}).lookup("T") == "from-executor"
    assert seen[0].argv == ("sh", "-c", "vault read token") and seen[0].cwd == str(tmp_path)


FILE = '''from otterfile import *

@artifact
def web():
    return build(path="app", command="docker build -t app .")

@runtime
def box():
    return docker(port=8080, env={"DB_PASSWORD": secret("DB_PASSWORD")})

@deployment
def production():
    return Deployment(artifact=web, runtime=box, targets=[local()])
'''


def otter(path, *args, env=None):
    return CliRunner().invoke(main, ["-f", str(path), *args], env=env or {})


# secrets: refused before anything runs

def test_secret_with_a_newline_fails_before_anything_runs(otterfile):
    result = otter(otterfile(FILE), "run", "production", "--dry-run",
                   env={"DB_PASSWORD": "hunter2\nINJECTED=1"})
    assert result.exit_code == 2, result.output
    assert "secret DB_PASSWORD holds a newline" in result.output
    assert "hunter2" not in result.output and "INJECTED" not in result.output
    assert "would run" not in result.output and "Traceback" not in result.output


def test_shared_secrets_file_is_warned_about_in_a_run(otterfile, tmp_path):
    path = otterfile(FILE)
    (tmp_path / ".otter").mkdir()
    secrets = tmp_path / ".otter" / "secrets"
    secrets.write_text("DB_PASSWORD=hunter2\n")
    secrets.chmod(0o644)
    result = otter(path, "run", "production", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.output.count(f"warning: {secrets} is readable") == 1
    assert "chmod 600" in result.output and "hunter2" not in result.output


def test_secrets_file_error_keeps_its_own_line_through_the_cli(otterfile, tmp_path):
    path = otterfile(FILE)
    (tmp_path / ".otter").mkdir()
    secrets = tmp_path / ".otter" / "secrets"
    secrets.write_text("# one\n# two\n# three\nDB_PASSWORD=$(exit 4)\n")
    secrets.chmod(0o600)
    result = otter(path, "run", "production", "--dry-run")
    assert result.exit_code == 2
    assert f"{secrets}:4: " in result.output

"""`pip install .` (a real wheel, not editable) gives a working `otter`, otterfile.stdlib and
the examples `otter init --example` copies."""
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_wheel_install_has_cli_templates_and_stdlib(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)],
                   check=True)
    python = venv / "bin" / "python"
    # --no-deps: the dependencies come from the system site packages; no download needed
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--no-deps", str(ROOT)],
                   check=True, capture_output=True, cwd=tmp_path)
    where = subprocess.run([str(python), "-c", "import otterfile, otterfile.stdlib; "
                            "print(otterfile.__file__, otterfile.stdlib.__file__)"],
                           capture_output=True, text=True, check=True, cwd=tmp_path).stdout
    assert str(venv) in where.split()[0] and str(venv) in where.split()[1]
    otter = venv / "bin" / "otter"
    project = tmp_path / "project"
    project.mkdir()
    assert subprocess.run([str(otter), "init"], cwd=project).returncode == 0
    listed = subprocess.run([str(otter), "list"], cwd=project, capture_output=True, text=True)
    assert listed.returncode == 0 and "production" in listed.stdout
    planned = subprocess.run([str(otter), "plan", "production"], cwd=project,
                             capture_output=True, text=True)
    assert planned.returncode == 0 and "switch caddy" in planned.stdout
    copied = tmp_path / "copied"
    copied.mkdir()  # the examples are in the wheel too
    assert subprocess.run([str(otter), "init", "--example", "hello"], cwd=copied).returncode == 0
    assert (copied / "app" / "Dockerfile").is_file() and (copied / ".otter" / "secrets").is_file()

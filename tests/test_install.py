"""The package install (pyproject.toml, ``make setup``'s ``pip install -e .``): commands from any directory.

Each command runs in a fresh folder outside the repository, as a new process
with this venv's interpreter or its ``ga-squad`` script and no ``PYTHONPATH``,
so ``ga_squad`` can only come from the install.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
# Entry points NNI starts by path may put their own folder on the import path (one line, said why);
# the tuner-protocol test imitates how NNI loads a codeDirectory.
ALLOWED = {"trial/trial.py": 1, "tests/test_tuner_protocol.py": 1}
PATCH = re.compile(r"\bsys\.path\s*(\.\s*(insert|append|extend)\s*\(|\+=|=[^=])|\bsite\.addsitedir\s*\(")


def ga_squad(tmp_path: Path, *argv: str, module: bool = False) -> subprocess.CompletedProcess[str]:
    """``ga-squad ARGV`` (or ``python -m ga_squad ARGV``) run from ``tmp_path``, outside the repository."""
    script = BIN / "ga-squad"
    if not module and not script.is_file():
        pytest.fail(f"{script} is missing: the package is not installed (make setup runs pip install -e .)")
    command = [sys.executable, "-m", "ga_squad", *argv] if module else [str(script), *argv]
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120,
                          stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("argv, module, usage", [
    (["--help"], False, "usage: ga-squad {run,report,download,predict,export}"),
    (["predict", "--help"], False, "predict"),
    (["export", "--help"], False, "export"),
    (["run", "--help"], False, "run"),
    (["--help"], True, "usage: python -m ga_squad {run,report,download,predict,export}"),
    (["download", "--help"], True, "download"),
])
def test_commands_work_from_another_directory(tmp_path: Path, argv: list[str], module: bool, usage: str) -> None:
    assert REPO not in tmp_path.parents
    done = ga_squad(tmp_path, *argv, module=module)
    assert done.returncode == 0, done.stderr[-2000:]
    first = done.stdout.splitlines()[0]
    assert first.startswith("usage: ") and usage in first, first


def test_unknown_command_is_one_usage_error(tmp_path: Path) -> None:
    done = ga_squad(tmp_path, "predicts")
    assert done.returncode == 2 and done.stderr.startswith("unknown command 'predicts'\nusage: ga-squad ")


def test_run_finds_the_repository_config_from_another_directory(tmp_path: Path) -> None:
    done = ga_squad(tmp_path, "run", "--print-config")
    assert done.returncode == 0, done.stderr
    submitted = yaml.safe_load(done.stdout)
    assert submitted["trialCodeDirectory"] == str(REPO) and submitted["tuner"]["codeDirectory"] == str(REPO)
    assert submitted["tuner"]["classArgs"]["save_dir_root"] == str(REPO / "runs")
    assert submitted["experimentWorkingDirectory"] == str(REPO / "runs" / "nni")


def test_run_refuses_a_config_copied_out_of_the_repository(tmp_path: Path) -> None:
    """`trialCodeDirectory: .` of a copy names the copy's folder: every trial would fail; say so at once."""
    shutil.copy(REPO / "config.yml", tmp_path / "config.yml")
    done = ga_squad(tmp_path, "run", "--config", "config.yml", "--print-config")
    assert done.returncode == 2 and done.stdout == ""
    errors = [line for line in done.stderr.splitlines() if not line.startswith("override ")]
    assert errors == [f"error: config.yml: trialCommand runs trial/trial.py, which is not in trialCodeDirectory "
                      f"{os.path.realpath(tmp_path)} (relative paths are relative to the config file); set "
                      f"trialCodeDirectory and tuner.codeDirectory to the repository, {REPO}"], done.stderr
    config = yaml.safe_load((tmp_path / "config.yml").read_text(encoding="utf-8"))
    config["trialCodeDirectory"] = str(REPO)  # the fix the message names
    (tmp_path / "config.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    done = ga_squad(tmp_path, "run", "--config", "config.yml", "--print-config")
    assert done.returncode == 0, done.stderr


def test_no_module_patches_the_import_path() -> None:
    """The package comes from the install (tests: pytest.ini's pythonpath), never from a path edit."""
    found: dict[str, int] = {}
    for path in REPO.rglob("*.py"):
        relative = path.relative_to(REPO).as_posix()
        if relative.split("/", 1)[0] in {".venv", ".git", "runs", "downloads", "results", "build"}:
            continue
        count = len(PATCH.findall(path.read_text(encoding="utf-8", errors="replace")))
        if count:
            found[relative] = count
    assert found == ALLOWED

"""The CPU and GPU requirement files pin the same versions of everything they share;
pyproject.toml declares those same pins; workers get the runtime only."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_PIN = re.compile(r"^([A-Za-z0-9_.-]+)(\[[A-Za-z0-9_,.-]+\])?==([A-Za-z0-9_.+!-]+)$")


def pins(name: str, seen: tuple[str, ...] = ()) -> dict[str, str]:
    """``{package: version}`` of a requirements file, following ``-r`` includes."""
    assert name not in seen, f"include cycle {seen + (name,)}"
    out: dict[str, str] = {}
    for raw in (REPO / name).read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("-r "):
            included = pins(line[3:].strip(), seen + (name,))
            assert not set(included) & set(out), f"{name}: {sorted(set(included) & set(out))} pinned twice"
            out.update(included)
            continue
        match = _PIN.match(line)
        assert match, f"{name}: {raw!r} is not an exact pin (name==version)"
        package = match.group(1).lower().replace("_", "-")
        assert package not in out, f"{name}: {package} pinned twice"
        out[package] = match.group(3)
    return out


def test_gpu_requirements_are_the_cpu_ones_with_cuda_tensorflow() -> None:
    cpu, gpu = pins("requirements.txt"), pins("requirements-gpu.txt")
    assert "tensorflow" not in cpu and "tensorflow-cpu" not in gpu
    assert cpu.pop("tensorflow-cpu") == gpu.pop("tensorflow")  # one TensorFlow version
    assert cpu == gpu  # every other pin, same version, in both
    assert "[and-cuda]" in (REPO / "requirements-gpu.txt").read_text(encoding="utf-8")


TEST_TOOLS = {"pytest", "pytest-xdist", "hypothesis", "nbclient", "nbformat", "ipykernel"}


def pyproject_pins(requirements: list[str]) -> dict[str, str]:
    """``{package: version}`` of a pyproject.toml requirement list (exact pins only, as the files)."""
    out: dict[str, str] = {}
    for requirement in requirements:
        match = _PIN.match(requirement.replace(" ", ""))
        assert match, f"pyproject.toml: {requirement!r} is not an exact pin (name==version)"
        out[match.group(1).lower().replace("_", "-")] = match.group(3)
    return out


def test_pyproject_declares_the_pins_of_the_requirements_files() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    extras = project["optional-dependencies"]
    common = pins("requirements-common.txt")
    assert pyproject_pins(project["dependencies"]) == common
    cpu, gpu = pins("requirements.txt"), pins("requirements-gpu.txt")
    assert pyproject_pins(extras["cpu"]) == {k: v for k, v in cpu.items() if k not in common}
    assert pyproject_pins(extras["gpu"]) == {k: v for k, v in gpu.items() if k not in common}
    gpu_lines = (REPO / "requirements-gpu.txt").read_text(encoding="utf-8").splitlines()
    assert extras["gpu"] == [line.strip() for line in gpu_lines if line.startswith("tensorflow[and-cuda]")]
    assert pyproject_pins(extras["test"]) == pins("requirements-dev.txt")


def test_workers_install_the_runtime_only() -> None:
    """config_remote.yml's workers install requirements.txt (or -gpu): no test or notebook tools."""
    for name in ("requirements.txt", "requirements-gpu.txt"):
        assert not set(pins(name)) & TEST_TOOLS, name
    assert set(pins("requirements-dev.txt")) == TEST_TOOLS
    assert not set(pins("requirements-dev.txt")) & set(pins("requirements.txt"))


def test_make_setup_installs_the_dev_tools_and_the_package() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    assert "-r requirements-dev.txt" in makefile
    assert "pip install --quiet --no-deps -e ." in makefile  # the pins stay exactly as installed


def test_the_console_script_has_every_command() -> None:
    from ga_squad.__main__ import COMMANDS

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["scripts"] == {"ga-squad": "ga_squad.__main__:main"}
    assert set(COMMANDS) == {"run", "report", "predict", "export", "download"}

"""The CPU and GPU requirement files pin the same versions of everything they share."""

from __future__ import annotations

import re
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

"""Where a benchmark's figures go: one small JSON file per benchmark under ``results/``.

The benchmark table (docs/benchmarks.md) is rendered from these files
(``scripts/render_bench_table.py``), and ``tests/test_bench_table.py`` fails
when the table and the files disagree, so every quoted figure traces back to
the run (command and date) that measured it. ``results/*.json`` is tracked by
git (the rest of ``results/`` is not): commit the file of a run the docs
quote, together with the re-rendered table.
"""

from __future__ import annotations

import datetime
import os
import shlex
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "results"


from ga_squad.files import write_json_atomic  # noqa: E402

__all__ = ["RESULTS", "command_line", "result_path", "write_result"]


def result_path(name: str, out_dir: str | os.PathLike[str] | None = None) -> Path:
    return Path(out_dir or RESULTS) / f"{name}.json"


def command_line(script: str, argv: Sequence[str] | None = None) -> str:
    """The command that reproduces a run, as typed from the repository root."""
    args = list(sys.argv[1:] if argv is None else argv)
    return " ".join(["python", f"benchmarks/{script}", *map(shlex.quote, args)])


def write_result(name: str, figures: Mapping[str, Any], config: Mapping[str, Any], *,
                 script: str | None = None, argv: Sequence[str] | None = None, out_dir: str | os.PathLike[str] | None = None,
                 date: str | None = None) -> Path:
    """Write ``results/<name>.json``: command, date, configuration and figures of one run.

    Args:
        name: File stem (``dispatch``, ``weight_sharing_quick``...).
        figures: The measured figures (JSON-serialisable).
        config: The run's settings.
        script: The benchmark script (default ``<name>.py``).
        argv: Its arguments (default ``sys.argv[1:]``).
        out_dir: Folder (default ``results/`` of the repository).
        date: ISO date of the run (default today).
    """
    path = result_path(name, out_dir)
    record = {
        "benchmark": name,
        "command": command_line(script or f"{name}.py", argv),
        "date": date or datetime.date.today().isoformat(),
        "config": dict(config),
        "figures": dict(figures),
    }
    write_json_atomic(path, record, indent=1, sort_keys=True)
    print(f"figures written to {path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path}")
    return path

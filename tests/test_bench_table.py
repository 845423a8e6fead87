"""The README's benchmark table is exactly what the committed benchmark JSON files say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from scripts import render_bench_table as bench

REPO = Path(__file__).resolve().parents[1]


def test_readme_table_matches_the_results_json() -> None:
    table = bench.current((REPO / "README.md").read_text(encoding="utf-8"))
    assert table is not None, "README.md lost its bench-table markers"
    assert table == bench.render(), "README benchmark table is stale: run python scripts/render_bench_table.py"


def test_every_quoted_run_names_its_command_and_date() -> None:
    files = sorted(bench.RESULTS.glob("*.json"))
    assert files, "no benchmark results committed"
    table = bench.render()
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        assert record["command"].startswith("python benchmarks/") and len(record["date"]) == 10
        assert f"`{record['command']}`, {record['date']}" in table


def test_a_changed_figure_changes_the_table(tmp_path: Path) -> None:
    """The check can fail: edit one figure in a copy of the results and the table differs."""
    results = tmp_path / "results"
    shutil.copytree(bench.RESULTS, results, ignore=shutil.ignore_patterns("*/"))
    path = results / "dispatch.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["figures"]["utilization"]["8"]["naive"] += 0.05
    path.write_text(json.dumps(record), encoding="utf-8")
    assert bench.render(results) != bench.render()

"""The docs' benchmark table (docs/benchmarks.md) is exactly what the committed benchmark JSON files say."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from scripts import render_bench_table as bench

REPO = Path(__file__).resolve().parents[1]
#: The issue's "no table cell longer than a sentence or two" (the renderer aims at bench.CELL_LIMIT).
MAX_CELL = 400


def test_docs_table_matches_the_results_json() -> None:
    table = bench.current(bench.BENCHMARKS_PAGE.read_text(encoding="utf-8"))
    assert table is not None, "docs/benchmarks.md lost its bench-table markers"
    assert table == bench.render(), "docs benchmark table is stale: run python scripts/render_bench_table.py"


def test_the_readme_no_longer_holds_the_table() -> None:
    """One copy of the table: the README points to docs/benchmarks.md instead."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert bench.BEGIN not in readme and bench.END not in readme
    assert "docs/benchmarks.md" in readme


def test_every_quoted_run_names_its_command_and_date() -> None:
    files = sorted(bench.RESULTS.glob("*.json"))
    assert files, "no benchmark results committed"
    table = bench.render()
    for path in files:
        record = json.loads(path.read_text(encoding="utf-8"))
        assert record["command"].startswith("python benchmarks/") and len(record["date"]) == 10
        assert f"`{record['command']}`, {record['date']}" in table


def test_no_table_cell_is_longer_than_a_sentence_or_two() -> None:
    cells = bench.table_cells(bench.render())
    assert len(cells) >= 4 * 2, "the table has no rows"
    long = [cell for cell in cells if len(cell) > MAX_CELL]
    assert not long, f"{len(long)} cell(s) over {MAX_CELL} characters, e.g. {long[0][:120]!r}..."


def test_every_row_is_in_the_table_or_its_figures_follow_it() -> None:
    """Short cells lose nothing: a run whose cell is a headline has its full figures below the table."""
    block = bench.render()
    table, _, below = block.partition("## All figures, run by run")
    for row in bench.ROWS:
        if not (bench.RESULTS / f"{row.stem}.json").is_file():
            continue
        if row.details is not None:
            assert f"(#{row.stem})" in table, row.stem
            assert f"### `{row.stem}`" in below, row.stem


def test_a_changed_figure_changes_the_table(tmp_path: Path) -> None:
    """The check can fail: edit one figure in a copy of the results and the table differs."""
    results = tmp_path / "results"
    shutil.copytree(bench.RESULTS, results, ignore=shutil.ignore_patterns("*/"))
    path = results / "dispatch.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    record["figures"]["utilization"]["8"]["naive"] += 0.05
    path.write_text(json.dumps(record), encoding="utf-8")
    assert bench.render(results) != bench.render()


def test_a_changed_figure_below_the_table_changes_the_block(tmp_path: Path) -> None:
    """A figure that only the per-run section shows is checked too."""
    results = tmp_path / "results"
    shutil.copytree(bench.RESULTS, results, ignore=shutil.ignore_patterns("*/"))
    path = results / "reader_quality.json"
    record = json.loads(path.read_text(encoding="utf-8"))
    reader = next(iter(record["figures"]["readers"].values()))
    reader["examples_per_s"] += 7
    path.write_text(json.dumps(record), encoding="utf-8")
    assert bench.render(results) != bench.render()

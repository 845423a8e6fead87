"""``benchmarks/reader_quality.py``: ``--graph NAME=FILE`` (any graph file, clear errors for bad ones) and
the seed-paired comparison of readers."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.reader_quality import load_graph, parse_args, seed_comparison
from ga_squad.search.presets import drqa_reader


def test_graph_files_are_named_readers(tmp_path: Path) -> None:
    path = tmp_path / "drqa.json"
    path.write_text(drqa_reader().to_json(), encoding="utf-8")
    cfg = parse_args(["--presets", "", "--graph", f"mine={path}", "--graph", f" other ={path}"])
    assert cfg.graphs == (("mine", str(path)), ("other", str(path)))
    assert cfg.presets == ()
    assert load_graph(str(path)) == drqa_reader()


@pytest.mark.parametrize("spec,needle", [
    ("no-equals-sign", "--graph needs NAME=FILE"),
    ("=somewhere.json", "--graph needs NAME=FILE"),
    ("x={missing}", "no such file"),
])
def test_bad_graph_arguments_are_refused(spec: str, needle: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--graph", spec.format(missing=tmp_path / "missing.json")])
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("text,needle", [
    ("{not json", "not valid JSON"),
    ('{"layers": [{"id": "x", "type": "teleport", "stream": "passage"}]}', "teleport"),
])
def test_a_malformed_graph_file_names_the_file_and_the_problem(text: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        load_graph(str(path))
    assert str(path) in str(exc.value) and needle in str(exc.value)


def test_seed_comparison_pairs_seeds_with_the_reference() -> None:
    """``x_seed1`` is seed 1 of ``x``; the gap to drqa is averaged over the seeds both ran, not over all."""
    readers = {
        "drqa": {"f1": [50.0, 56.0, 55.0]}, "drqa_seed1": {"f1": [54.0]}, "drqa_seed2": {"f1": [53.0, 55.0]},
        "edit": {"f1": [55.0, 57.0]}, "edit_seed2": {"f1": [54.0]},
        "other": {"f1": [40.0]},
        "my_seed_graph": {"f1": [30.0]},  # "_seed" not followed by a number: a name, seed 0
    }
    rows = seed_comparison(readers)
    assert rows["drqa"] == {"seeds": [0, 1, 2], "best_f1": [56.0, 54.0, 55.0], "mean_f1": 55.0,
                            "paired_seeds": [0, 1, 2], "mean_gap": 0.0}
    assert rows["edit"]["paired_seeds"] == [0, 2]
    assert rows["edit"]["mean_gap"] == ((57.0 - 56.0) + (54.0 - 55.0)) / 2
    assert rows["other"]["mean_gap"] == 40.0 - 56.0
    assert rows["my_seed_graph"]["seeds"] == [0]
    assert seed_comparison({"edit": {"f1": [1.0]}})["edit"]["mean_gap"] is None

"""``benchmarks/reader_quality.py``: ``--graph NAME=FILE`` (any graph file, clear errors for bad ones) and
the seed-paired comparison of readers."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from benchmarks.reader_quality import kept_epoch, load_graph, main, parse_args, seed_comparison
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
        "drqa": {"f1": 56.0}, "drqa_seed1": {"f1": 54.0}, "drqa_seed2": {"f1": 55.0},
        "edit": {"f1": 57.0}, "edit_seed2": {"f1": 54.0},
        "other": {"f1": 40.0},
        "my_seed_graph": {"f1": 30.0},  # "_seed" not followed by a number: a name, seed 0
    }
    rows = seed_comparison(readers)
    assert rows["drqa"] == {"seeds": [0, 1, 2], "dev_f1": [56.0, 54.0, 55.0], "mean_f1": 55.0,
                            "paired_seeds": [0, 1, 2], "mean_gap": 0.0}
    assert rows["edit"]["paired_seeds"] == [0, 2]
    assert rows["edit"]["mean_gap"] == ((57.0 - 56.0) + (54.0 - 55.0)) / 2
    assert rows["other"]["mean_gap"] == 40.0 - 56.0
    assert rows["my_seed_graph"]["seeds"] == [0]
    assert seed_comparison({"edit": {"f1": 1.0}})["edit"]["mean_gap"] is None


def test_the_kept_epoch_is_chosen_on_validation_and_the_earliest_among_ties() -> None:
    """Dev never chooses: the kept epoch is the lowest validation loss (or highest validation F1)."""
    epochs = [{"epoch": 1, "val_loss": 5.0, "val_f1": 20.0}, {"epoch": 2, "val_loss": 4.0, "val_f1": 30.0},
              {"epoch": 3, "val_loss": 4.0, "val_f1": 35.0}, {"epoch": 4, "val_loss": 4.5, "val_f1": 35.0}]
    assert kept_epoch(epochs, "val_loss")["epoch"] == 2
    assert kept_epoch(epochs, "val_f1")["epoch"] == 3


def test_the_shared_default_scores_dev_questions_2001_to_6000() -> None:
    cfg = parse_args([])
    assert (cfg.dev_skip, cfg.dev_limit, cfg.select) == (2000, 4000, "val_loss")
    quick = parse_args(["--quick"])
    assert (quick.dev_skip, quick.dev_limit) == (0, None)


@pytest.mark.slow
def test_quick_run_keeps_a_validation_epoch_and_scores_dev_once(tmp_path: Path) -> None:
    cfg = replace(parse_args(["--quick", "--presets", "base", "--epochs", "2", "--no-baselines",
                              "--train-limit", "200"]), out=str(tmp_path / "rq"),
                  results_dir=str(tmp_path / "results"))
    summary = main(cfg)
    rec = summary["readers"]["base"]
    assert [e["epoch"] for e in rec["epochs"]] == [1, 2] and "f1" not in rec["epochs"][0]  # no dev per epoch
    assert rec["dev"]["epoch"] == kept_epoch(rec["epochs"], "val_loss")["epoch"]
    assert 0.0 <= rec["dev"]["f1"] <= 100.0
    assert (tmp_path / "results" / "reader_quality_quick.json").is_file()

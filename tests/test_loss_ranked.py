"""A loss-ranked search, read by every command a user has: all name the same, lowest-loss individual.

The tiny real search (tests/tiny_search.py) is copied and its journal made a
loss-ranked one: its first event says ``val_loss``/``minimize`` and each
reported result carries the validation loss and F1 set below (the
checkpoints, their manifests and the dev scores stay real). By construction
the lowest loss is individual 2, which is neither the best F1 (1), nor the
first individual (0), nor the largest journal value (3, the highest loss).

Then a trial on a loss-ranked search keeps its lowest-loss epoch.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from tiny_search import TinySearch, tiny_search  # noqa: E402

#: indiv_id -> (validation loss, validation F1) written into the copied journal.
SCRIPT = {0: (5.0, 20.0), 1: (6.0, 40.0), 2: (3.0, 10.0), 3: (7.0, 15.0)}
BEST = 2


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    return tiny_search(tmp_path_factory)


def make_loss_ranked(tiny: TinySearch, root: Path) -> Path:
    """A copy of the tiny search whose journal ranks by validation loss (see the module docstring)."""
    copy = root / tiny.experiment_id
    shutil.copytree(tiny.search_dir, copy, symlinks=True)
    journal = copy / "lineage.jsonl"
    events = [json.loads(line) for line in journal.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert events[0]["event"] == "search" and sorted(e["indiv_id"] for e in events if e["event"] == "reported") == [
        0, 1, 2, 3]
    events[0]["fitness"] = {"key": "val_loss", "mode": "minimize"}
    for event in events:
        if event["event"] == "reported":
            loss, f1 = SCRIPT[event["indiv_id"]]
            event["result"].update(val_loss=loss, val_f1=f1, default=f1)
            event["value"] = loss
    journal.write_text("".join(json.dumps(e) + "\n" for e in events), encoding="utf-8")
    return copy


def _indiv_of_predict(path: Path, capsys: pytest.CaptureFixture) -> str:
    from ga_squad.cli.predict import cli as predict_cli

    assert predict_cli([str(path), "--question", "Who gave their name to Normandy?", "--passage",
                        "The Normans gave their name to Normandy, a region in France."]) == 0
    return capsys.readouterr().err


def test_predict_export_report_the_notebook_and_run_name_the_lowest_loss_individual(
        tiny: TinySearch, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ga_squad.analysis.search_dir import load_search
    from ga_squad.cli import run
    from ga_squad.cli.export import cli as export_cli
    from ga_squad.cli.report import cli as report_cli

    search_dir = make_loss_ranked(tiny, tmp_path / "runs")
    # predict (a storage root, as the README shows it)
    err = _indiv_of_predict(tmp_path / "runs", capsys)
    assert f"reader: individual {BEST} ({search_dir / 'individuals' / '000002'})" in err, err
    # export
    assert export_cli([str(search_dir), "--out", str(tmp_path / "best-reader")]) == 0
    capsys.readouterr()
    assert json.loads((tmp_path / "best-reader" / "reader.json").read_text())["indiv_id"] == BEST
    # report: its best, its leaderboard's first row and the checkpoint it re-evaluated
    assert report_cli([str(search_dir), "--out", str(tmp_path / "report")]) == 0
    out = capsys.readouterr().out
    assert f"best (what predict and export load): individual {BEST}, val_loss 3.0000 (minimized)" in out
    payload = json.loads((tmp_path / "report" / "report.json").read_text())
    assert payload["best"]["indiv_id"] == payload["leaderboard"][0]["indiv_id"] == BEST
    assert payload["reevaluation"]["indiv_id"] == BEST and payload["reevaluation"]["matches"]
    assert payload["fitness"] == {"key": "val_loss", "mode": "minimize"}
    # the notebook's helper and run's leaderboard
    search = load_search(tmp_path / "runs")
    assert search.best().indiv_id == BEST and search.save_dir(BEST) == search_dir / "individuals" / "000002"
    rows = run.ranked(search)
    assert rows[0].indiv_id == run.best_row(search, rows).indiv_id == BEST


def test_a_moved_search_folder_is_self_sufficient(tiny: TinySearch, tmp_path: Path,
                                                  capsys: pytest.CaptureFixture) -> None:
    """Copied elsewhere and the first copy deleted: predict and report read the checkpoints where they are now."""
    from ga_squad.cli.report import cli as report_cli

    first = make_loss_ranked(tiny, tmp_path / "a")
    moved = tmp_path / "b" / first.name
    shutil.copytree(first, moved, symlinks=True)
    shutil.rmtree(first)
    err = _indiv_of_predict(moved, capsys)
    assert f"reader: individual {BEST} ({moved / 'individuals' / '000002'})" in err, err
    assert report_cli([str(moved), "--out", str(tmp_path / "report")]) == 0
    capsys.readouterr()
    reevaluation = json.loads((tmp_path / "report" / "report.json").read_text())["reevaluation"]
    assert reevaluation["matches"] and Path(reevaluation["save_dir"]).is_relative_to(moved)


# --- the trial keeps the epoch its search ranks by -------------------------------------
def test_a_trial_on_a_loss_ranked_search_keeps_its_lowest_loss_epoch(tmp_path: Path) -> None:
    """Same seed, same epochs: the loss-ranked trial keeps the lowest validation loss, the F1-ranked one the best F1.

    With seed 1 on this data the two are different epochs (checked below), so
    keeping the best-F1 epoch whatever the search ranks by fails here.
    """
    from test_training import MODEL, TRAIN, sample

    from ga_squad.reader.training import run_trial
    from ga_squad.store.contract import TrialParams
    from ga_squad.search.fitness import Fitness
    from ga_squad.search.graph import base_reader

    data = sample(tmp_path / "cache", train_limit=48, dev_limit=24, max_passage_len=100)
    runs = {}
    for fitness in (Fitness("val_loss", "minimize"), Fitness()):
        epochs: list[dict] = []
        params = TrialParams(0, None, base_reader(), None, str(tmp_path / fitness.key), None, seed=1,
                             fitness=fitness)
        result = run_trial(params, data, MODEL, TRAIN.override(epochs=3, patience=10),
                           on_epoch=lambda e, m, out=epochs: out.append(dict(m, epoch=e)))
        runs[fitness.key] = (result, epochs)
    (by_loss, epochs), (by_f1, same) = runs["val_loss"], runs["default"]
    assert [e["val_loss"] for e in epochs] == [e["val_loss"] for e in same]  # training does not depend on it
    lowest = min(epochs, key=lambda e: (e["val_loss"], e["epoch"]))
    best_f1 = max(epochs, key=lambda e: (e["val_f1"], -e["epoch"]))
    assert lowest["epoch"] != best_f1["epoch"], "precondition: loss and F1 pick different epochs here"
    assert (by_loss["best_epoch"], by_loss["val_loss"], by_loss["val_f1"], by_loss["default"]) == (
        lowest["epoch"], lowest["val_loss"], lowest["val_f1"], lowest["val_f1"])
    assert by_loss["selected_by"] == "val_loss"
    assert (by_f1["best_epoch"], by_f1["val_f1"], by_f1["selected_by"]) == (best_f1["epoch"], best_f1["val_f1"],
                                                                           "val_f1")

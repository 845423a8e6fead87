"""The equal-compute baseline: every preset alone for the budget, B the best by the fitness on validation.

Selection and wording on records built by hand; training and the cache on
two tiny presets really trained for two epochs.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from ga_squad.analysis.equal_compute import comparison_text  # noqa: E402
from ga_squad.reader.baseline import cached_preset, train_presets, whole_budget  # noqa: E402
from ga_squad.store.baselines import (  # noqa: E402
    BASELINE_FILE,
    BaselineFileError,
    PresetBaseline,
    baseline_path,
    baseline_presets,
    best_preset,
    load_baselines,
    write_baselines,
)
from ga_squad.reader.config import ModelConfig, TrainConfig  # noqa: E402
from ga_squad.reader.dataset import DataConfig  # noqa: E402
from ga_squad.store.contract import MissingScore  # noqa: E402
from ga_squad.store.contract import result_score as score  # noqa: E402
from ga_squad.search.fitness import Fitness, OptimizeMode  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
DATA_CFG = DataConfig(str(DATA / "squad_train_sample.json"), str(DATA / "squad_dev_sample.json"), None,
                      max_passage_len=80, train_limit=40, dev_limit=20)
MODEL = ModelConfig.tiny()
TRAIN = TrainConfig(batch_size=16, eval_batch_size=32, learning_rate=3e-3, patience=2)
LOSS = Fitness("val_loss", OptimizeMode.MINIMIZE)


def record(name: str, f1: tuple[float, ...], loss: tuple[float, ...], kept: int, dev: float | None = None,
           fitness: Fitness = LOSS, seconds: float = 10.0) -> PresetBaseline:
    return PresetBaseline(preset=name, budget=len(f1), fitness=fitness, val_f1=f1, val_em=f1, val_loss=loss,
                          kept_epoch=kept, dev_f1=dev, seconds=seconds, train_examples=100 * len(f1), params=1000,
                          seed=0, key=f"key-{name}", created="2026-12-03T00:00:00+00:00")


def test_baseline_presets_are_the_spaces_then_drqa_bidaf_base_without_repeats() -> None:
    assert baseline_presets() == ("drqa", "bidaf", "base")
    assert baseline_presets(("base",)) == ("base", "drqa", "bidaf")
    assert baseline_presets(("bidaf", "base", "bidaf")) == ("bidaf", "base", "drqa")


def test_a_loss_fitness_picks_the_lowest_validation_loss_not_the_highest_f1() -> None:
    # drqa has the best F1 and bidaf the best dev F1; base has the lowest loss at its kept epoch.
    drqa = record("drqa", (30.0, 35.0), (3.0, 2.9), kept=2, dev=31.0)
    bidaf = record("bidaf", (20.0, 25.0), (3.5, 3.4), kept=2, dev=40.0)
    base = record("base", (10.0, 20.0), (2.5, 2.6), kept=1, dev=15.0)
    assert best_preset([drqa, bidaf, base]) is base
    by_f1 = [dataclass_with(r, fitness=Fitness()) for r in (drqa, bidaf, base)]
    assert best_preset(by_f1).preset == "drqa"  # the same curves by F1: dev never chooses
    tie = record("tie", (10.0, 20.0), (2.5, 2.6), kept=1)
    assert best_preset([base, tie]) is base and best_preset([tie, base]) is tie  # the first among ties
    with pytest.raises(ValueError, match="not comparable"):
        best_preset([drqa, by_f1[1]])
    with pytest.raises(ValueError, match="no preset"):
        best_preset([])


def dataclass_with(r: PresetBaseline, **changes: Any) -> PresetBaseline:
    return dataclasses.replace(r, **changes)


def test_the_kept_epoch_follows_the_trainers_rule_at_every_budget_point() -> None:
    assert whole_budget(TRAIN, 24).epochs == 24 and whole_budget(TRAIN, 24).patience >= 10**6  # every epoch
    r = record("base", (5.0, 9.0, 7.0, 6.0), (3.0, 2.8, 2.5, 2.5), kept=3)
    assert [r.kept_within(b) for b in (1, 2, 3, 4)] == [1, 2, 3, 3]  # an equal loss only wins with a higher F1
    assert r.best_so_far() == (5.0, 9.0, 7.0, 7.0)  # the F1 of the lowest-loss epoch, not the running max
    assert r.value == 2.5 and r.kept_val_f1 == 7.0 and r.compute == 400 * 1000
    assert dataclass_with(r, val_f1=(5.0, 9.0, 7.0, 8.0)).kept_within(4) == 4
    f1 = dataclass_with(r, fitness=Fitness(), kept_epoch=2)
    assert f1.best_so_far() == (5.0, 9.0, 9.0, 9.0)
    with pytest.raises(ValueError, match="cannot answer budget 5"):
        r.kept_within(5)
    with pytest.raises(ValueError, match="one validation score per epoch"):
        dataclass_with(r, val_loss=(1.0,))


def test_the_search_folder_file_round_trips_and_refuses_schema_1(tmp_path: Path) -> None:
    assert load_baselines(tmp_path) is None
    records = (record("drqa", (1.0, 2.0), (3.0, 2.0), kept=2, dev=1.5), record("base", (1.0,) * 2, (4.0,) * 2, kept=1))
    write_baselines(tmp_path / BASELINE_FILE, records)
    assert load_baselines(tmp_path) == records
    old = {"schema": 1, "reader": "base", "budget": 24, "val_f1": 16.8, "dev_f1": 15.7, "epochs_run": 24,
           "seconds": 400.0, "cache_path": "runs/cache/baseline-x.json", "best_epoch": 19}
    (tmp_path / BASELINE_FILE).write_text(json.dumps(old))
    with pytest.raises(BaselineFileError, match=r"schema 1.*(delete it|recompute)") as err:
        load_baselines(tmp_path)
    assert str(tmp_path / BASELINE_FILE) in str(err.value) and "--equal-compute-baseline" in str(err.value)
    (tmp_path / BASELINE_FILE).write_text("{not json")
    with pytest.raises(BaselineFileError, match=BASELINE_FILE):
        load_baselines(tmp_path)


def test_comparison_names_b_and_never_calls_a_loss_a_pay_off() -> None:
    records = [record("base", (10.0, 20.0), (2.5, 2.6), kept=1, dev=15.0, seconds=100.0),
               record("drqa", (30.0, 35.0), (3.0, 2.9), kept=2, dev=31.0, seconds=200.0)]
    text = comparison_text(records, 12.0, 16.0, best_id=7, search_seconds=900.0, search_epochs=4)
    first, others, search = text.splitlines()
    assert first.startswith("equal-compute baseline B = base: the best by val_loss (minimize) on validation of "
                            "2 presets (base, drqa)")
    assert "validation F1 10.00, dev F1 15.00 (epoch 1 kept), 100 s" in first
    assert others == "other presets: drqa validation F1 35.00, dev F1 31.00, 200 s (training all 2 took 300 s)."
    assert search == ("search best (individual 7): validation F1 12.00, dev F1 16.00, 900 s, 4 trial-epochs; "
                      "against B: +2.00 validation F1, +1.00 dev F1: the search beat the best preset.")
    lost = comparison_text(records, 9.0, 14.0)
    assert "-1.00 validation F1, -1.00 dev F1: the search did not beat the best preset" in lost
    mixed = comparison_text(records, 11.0, 14.0)
    assert "did not beat the best preset: ahead on validation F1 but not on dev F1" in mixed
    assert all("pays off" not in t for t in (text, lost, mixed))
    assert len(comparison_text(records).splitlines()) == 2  # B alone, without a search


def test_score_reads_each_key_and_never_a_validation_score_from_the_bare_keys() -> None:
    """The bare keys repeat the dev scores: never read for the validation split, nor for dev (``dev_*`` is)."""
    bare = {"f1": 12.5, "initial_f1": 3.0, "em": 4.0}
    new = {"default": 20.0, "val_f1": 20.0, "dev_f1": 18.0, "initial_val_f1": 7.0, "f1": 99.0}
    assert score(bare, "f1", split="dev") is None
    with pytest.raises(MissingScore, match="'val_f1'"):
        score(bare, "f1", split="val")
    with pytest.raises(MissingScore, match="'initial_val_f1'"):
        score(bare, "f1", initial=True)
    assert score(new, "f1") == 20.0 and score(new, "f1", split="dev") == 18.0
    assert score(new, "f1", initial=True) == 7.0
    assert score({"f1": None}, "f1") is None and score({}, "em") is None


@pytest.mark.slow
def test_presets_train_once_then_answer_from_the_cache(tmp_path: Path) -> None:
    """Two tiny presets, two real epochs each; the second call trains nothing."""
    from ga_squad.reader.training import configure_tensorflow, run_trial

    configure_tensorflow(1, 1, deterministic=True)
    calls: list[tuple[str, int]] = []
    events: list[dict[str, Any]] = []

    def counting(params: Any, data: Any, model: Any, train: Any, on_epoch: Any = None) -> dict[str, Any]:
        calls.append((params.mutation, train.epochs))
        return run_trial(params, data, model, train, on_epoch)

    names = ("base", "drqa")
    first = train_presets(names, tmp_path, DATA_CFG, MODEL, TRAIN, 2, fitness=LOSS, seed=1, trainer=counting,
                          on_progress=lambda e: events.append(dict(e)))
    assert [c[1] for c in calls] == [2, 2]
    assert [r.preset for r in first] == list(names)
    epochs = [(e["preset"], e["epoch"]) for e in events if e["event"] == "epoch"]
    assert epochs == [("base", 1), ("base", 2), ("drqa", 1), ("drqa", 2)]
    assert all({"val_f1", "val_loss", "seconds", "budget"} <= set(e) for e in events if e["event"] == "epoch")
    assert [(e["preset"], e["cached"]) for e in events if e["event"] == "done"] == [("base", False), ("drqa", False)]
    for r in first:
        assert r.budget == 2 and r.fitness == LOSS and r.kept_epoch == r.kept_within(2)  # the trainer's kept epoch
        assert r.kept_val_loss == min(r.val_loss) and r.dev_f1 is not None and r.params > 0
        assert r.train_examples % 2 == 0 and r.train_examples > 0
        assert json.loads(baseline_path(tmp_path, r.key).read_text())["val_loss"] == list(r.val_loss)

    events.clear()
    again = train_presets(names, tmp_path, DATA_CFG, MODEL, TRAIN, 2, fitness=LOSS, seed=1, trainer=counting,
                          on_progress=lambda e: events.append(dict(e)))
    assert len(calls) == 2, "a cached preset must not train again"
    assert again == first and [e["cached"] for e in events] == [True, True]
    assert cached_preset(tmp_path, "base", DATA_CFG, MODEL, TRAIN, 2, fitness=LOSS, seed=1) == first[0]
    assert cached_preset(tmp_path, "base", DATA_CFG, MODEL, TRAIN, 2, fitness=Fitness(), seed=1) is None
    assert cached_preset(tmp_path, "base", DATA_CFG, MODEL, TRAIN, 3, fitness=LOSS, seed=1) is None  # one budget a key
    assert cached_preset(tmp_path, "base", DATA_CFG, MODEL, TRAIN, 2, fitness=LOSS, seed=2) is None

    baseline_path(tmp_path, first[0].key).write_text("{not json")  # a damaged cache file is retrained, not a crash
    redone = train_presets(names, tmp_path, DATA_CFG, MODEL, TRAIN, 2, fitness=LOSS, seed=1, trainer=counting)
    assert len(calls) == 3 and redone[0].val_loss == first[0].val_loss  # deterministic training

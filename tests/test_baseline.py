"""The equal-compute baseline: one real tiny training run, cached, read at every budget point."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from ga_squad.reader.config import ModelConfig, TrainConfig  # noqa: E402
from ga_squad.reader.dataset import DataConfig  # noqa: E402
from ga_squad.sim.baseline import (  # noqa: E402
    BaselineCurve,
    baseline_path,
    cached_baseline,
    equal_compute_baseline,
)
from ga_squad.search.contract import result_score as score  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
DATA_CFG = DataConfig(str(DATA / "squad_train_sample.json"), str(DATA / "squad_dev_sample.json"), None,
                      max_passage_len=80, train_limit=40, dev_limit=20)
MODEL = ModelConfig.tiny()
TRAIN = TrainConfig(batch_size=16, eval_batch_size=32, learning_rate=3e-3, patience=2)


def curve(val: tuple[float, ...], budget: int, dev: tuple[float, ...] | None = None) -> BaselineCurve:
    return BaselineCurve("k", "g", 0, budget, val, dev or val, 1.0, "now")


def test_budget_points_select_by_validation_and_stay_flat_after_early_stopping() -> None:
    c = curve((3.0, 5.0, 4.0, 4.5), budget=6, dev=(2.0, 6.0, 9.0, 1.0))  # stopped after epoch 4
    assert c.stopped_early and c.covers(100)
    assert c.best_so_far() == (3.0, 5.0, 5.0, 5.0, 5.0, 5.0)
    assert c.dev_at(1) == 2.0 and c.dev_at(3) == 6.0  # the dev F1 of the epoch validation picked, not dev's max
    full = curve((1.0, 2.0), budget=2)
    assert not full.stopped_early and full.covers(2) and not full.covers(3)
    with pytest.raises(ValueError, match="cannot answer budget 3"):
        full.best_at(3)


def test_score_reads_old_and_new_result_keys() -> None:
    old = {"f1": 12.5, "initial_f1": 3.0, "em": 4.0}
    new = {"default": 20.0, "val_f1": 20.0, "dev_f1": 18.0, "initial_val_f1": 7.0, "f1": 99.0}
    assert score(old, "f1", split="val") == score(old, "f1", split="dev") == 12.5
    assert score(old, "f1", initial=True) == 3.0
    assert score(new, "f1") == 20.0 and score(new, "f1", split="dev") == 18.0
    assert score(new, "f1", initial=True) == 7.0
    assert score({"f1": None}, "f1") is None and score({}, "em") is None


def test_baseline_trains_once_then_answers_from_the_cache(tmp_path: Path) -> None:
    from ga_squad.reader.training import configure_tensorflow, run_trial

    configure_tensorflow(1, 1, deterministic=True)
    calls: list[int] = []

    def counting(params: Any, data: Any, model: Any, train: Any, on_epoch: Any = None) -> dict[str, Any]:
        calls.append(train.epochs)
        return run_trial(params, data, model, train, on_epoch)

    first = equal_compute_baseline(tmp_path, DATA_CFG, MODEL, TRAIN, 2, seed=1, trainer=counting)
    assert calls == [2]
    assert 1 <= first.epochs_run <= 2 and first.budget == 2
    best = first.best_so_far()
    assert len(best) == 2 and all(b >= a for a, b in zip(best, best[1:]))
    assert best[-1] == max(first.val_f1) and best[0] == first.val_f1[0]
    path = baseline_path(tmp_path, first.key)
    assert json.loads(path.read_text())["val_f1"] == list(first.val_f1)

    again = equal_compute_baseline(tmp_path, DATA_CFG, MODEL, TRAIN, 2, seed=1, trainer=counting)
    shorter = equal_compute_baseline(tmp_path, DATA_CFG, MODEL, TRAIN, 1, seed=1, trainer=counting)
    assert calls == [2], "a cached curve that covers the budget must not train again"
    assert again == first and shorter == first
    assert cached_baseline(tmp_path, DATA_CFG, MODEL, TRAIN, 2, seed=1) == first
    assert cached_baseline(tmp_path, DATA_CFG, MODEL, TRAIN, 2, seed=2) is None  # other seed, other key
    assert cached_baseline(tmp_path, DATA_CFG, MODEL, TRAIN.override(learning_rate=1e-3), 2, seed=1) is None

    path.write_text("{not json")  # a damaged cache file is recomputed, not a crash
    redone = equal_compute_baseline(tmp_path, DATA_CFG, MODEL, TRAIN, 2, seed=1, trainer=counting)
    assert calls == [2, 2] and redone.val_f1 == first.val_f1  # deterministic training

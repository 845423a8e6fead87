"""The equal-compute baseline's training: each preset alone for the search's whole budget.

A search spends ``trials x epochs-per-trial`` trial-epochs. The alternative a
user has is to spend them training a hand-designed reader, and the strongest
such alternative is the one to beat (``docs/protocol.md``): every preset the
search space starts from, and at least ``drqa``, ``bidaf`` and ``base``
(:func:`baseline_presets`), each trained alone from scratch for the whole
budget. Each keeps the epoch that is best by the search's fitness on the
validation split (as every trial does, :func:`ga_squad.reader.training.run_trial`)
and scores the dev set once on those weights. ``B`` is the preset whose kept
epoch is best by that fitness on validation (:func:`best_preset`); dev never
chooses anything.

Each preset's record (:class:`ga_squad.store.baselines.PresetBaseline`, the one
record type, with its files and the choice of B) is cached in
``<storage_root>/cache/baseline-<key>.json``, computed once per data, model,
optimiser settings, preset, seed, budget and fitness (:func:`baseline_key`).
The wording of B against a search's best is :mod:`ga_squad.analysis.equal_compute`'s.
"""

from __future__ import annotations

import dataclasses
import datetime
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ga_squad.files import write_json_atomic
from ga_squad.reader.config import ModelConfig, TrainConfig
from ga_squad.reader.data_cache import cache_key, load_dataset
from ga_squad.reader.dataset import DataConfig, Dataset
from ga_squad.store.baselines import SCHEMA, PresetBaseline, baseline_path, read_cached
from ga_squad.store.contract import TrialParams
from ga_squad.search.fitness import Fitness
from ga_squad.search.graph import canonical_hash
from ga_squad.search.presets import preset as preset_graph

__all__ = [
    "ProgressCallback",
    "baseline_key",
    "cached_preset",
    "train_preset",
    "train_presets",
    "whole_budget",
]

_logger = logging.getLogger(__name__)

#: Patience that never ends a run early: a baseline trains every epoch of its budget.
UNLIMITED_PATIENCE = 1_000_000

#: ``run_trial``'s signature: (params, data, model config, train config, on_epoch) -> result.
Trainer = Callable[..., Mapping[str, Any]]
#: Called with one JSON-ready event per epoch trained (``event: epoch``) and per preset
#: finished (``event: done``, with the record and whether it came from the cache).
ProgressCallback = Callable[[Mapping[str, Any]], None]


def whole_budget(train_cfg: TrainConfig, budget: int) -> TrainConfig:
    """The search's optimiser settings for a baseline: ``budget`` epochs, none skipped.

    A trial's patience of 2 on the sample's ~170 validation questions ends
    the base reader after 5 of 24 epochs, well below what it reaches with
    the budget used up; a baseline stopped that early would flatter every
    search. Selection (the kept epoch) is its only early stopping.
    """
    return dataclasses.replace(train_cfg, epochs=budget, patience=UNLIMITED_PATIENCE)


def baseline_key(name: str, data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, budget: int,
                 *, fitness: Fitness = Fitness(), seed: int = 0) -> str:
    """The cache key: data, model, optimiser settings, preset graph, seed, budget and fitness.

    One budget per key: a record answers exactly the run it is. Computable
    without loading the data (the key hashes the files and the settings).
    """
    train = whole_budget(train_cfg, budget).to_dict()
    train.pop("seed")  # the trial seed below replaces it (run_trial does the same)
    return canonical_hash({
        "baseline_schema": SCHEMA,
        "data": cache_key(data_cfg),
        "model": model_cfg.fingerprint(),
        "train": train,
        "graph": preset_graph(name).fingerprint(),
        "seed": seed,
        "budget": budget,
        "fitness": fitness.to_dict(),
    })


def cached_preset(storage_root: str | os.PathLike[str], name: str, data_cfg: DataConfig, model_cfg: ModelConfig,
                  train_cfg: TrainConfig, budget: int, *, fitness: Fitness = Fitness(),
                  seed: int = 0) -> PresetBaseline | None:
    """The cached record of this preset and configuration, or None; never trains."""
    key = baseline_key(name, data_cfg, model_cfg, train_cfg, budget, fitness=fitness, seed=seed)
    return read_cached(baseline_path(storage_root, key), key)


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def train_preset(
    name: str,
    storage_root: str | os.PathLike[str],
    data_cfg: DataConfig,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    budget: int,
    *,
    fitness: Fitness = Fitness(),
    seed: int = 0,
    data: Dataset | None = None,
    cache_dir: str | None = None,
    trainer: Trainer | None = None,
    on_progress: ProgressCallback | None = None,
) -> PresetBaseline:
    """One preset trained alone from scratch for ``budget`` trial-epochs, or its cached record.

    Args:
        name: The preset.
        storage_root: Where the cache lives (``<storage_root>/cache/``), e.g.
            the search's ``save_dir_root``.
        data_cfg: The search's data settings.
        model_cfg: The search's model options (``word_dim`` matching the GloVe vectors).
        train_cfg: The search's optimiser options (epochs and patience are
            replaced: :func:`whole_budget`).
        budget: Trial-epochs (the search's ``trials x epochs per trial``).
        fitness: The search's fitness: the epoch kept is the best by it on validation.
        seed: Initialisation and data-order seed.
        data: The loaded dataset of ``data_cfg``, if the caller has it.
        cache_dir: Preprocessed-array cache, used when ``data`` must be loaded.
        trainer: What trains it (default :func:`ga_squad.reader.training.run_trial`;
            tests wrap it to count calls).
        on_progress: Receives an ``epoch`` event after every epoch trained and
            a ``done`` event at the end (``cached`` says which way).

    Returns:
        The record, also written to the cache.
    """
    if budget < 1:
        raise ValueError(f"baseline budget must be >= 1 trial-epoch, got {budget}")
    key = baseline_key(name, data_cfg, model_cfg, train_cfg, budget, fitness=fitness, seed=seed)
    path = baseline_path(storage_root, key)
    record = read_cached(path, key)
    cached = record is not None
    if record is not None:
        _logger.info("equal-compute baseline %s from the cache %s", name, path)
    else:
        record = _train(name, key, data_cfg, model_cfg, whole_budget(train_cfg, budget), budget, fitness, seed,
                        data, cache_dir, trainer, on_progress)
        write_json_atomic(path, record.to_dict(), indent=1)
    if on_progress is not None:
        on_progress({"event": "done", "preset": name, "budget": budget, "cached": cached, "path": str(path),
                     "record": record.to_dict()})
    return record


def _train(name: str, key: str, data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig, budget: int,
           fitness: Fitness, seed: int, data: Dataset | None, cache_dir: str | None, trainer: Trainer | None,
           on_progress: ProgressCallback | None) -> PresetBaseline:
    if trainer is None:
        # why here: loads TensorFlow; trial/trial.py imports this module before it sets TensorFlow's log level.
        from ga_squad.reader.training import run_trial as trainer
    if data is None:
        data = load_dataset(data_cfg, cache_dir)
    curves: dict[str, list[float]] = {"val_f1": [], "val_em": [], "val_loss": []}
    t0 = time.perf_counter()

    def on_epoch(epoch: int, metrics: Mapping[str, float]) -> None:
        for metric, values in curves.items():
            if metric not in metrics:
                raise ValueError(f"the trainer reported no {metric} for epoch {epoch} of {name}")
            values.append(float(metrics[metric]))
        if on_progress is not None:
            on_progress({"event": "epoch", "preset": name, "epoch": epoch, "budget": budget,
                         "val_f1": curves["val_f1"][-1], "val_loss": curves["val_loss"][-1],
                         "seconds": round(time.perf_counter() - t0, 3)})

    _logger.info("training the equal-compute baseline %s: %d epoch(s), seed %d, kept by %s", name, budget, seed,
                 fitness.describe())
    with tempfile.TemporaryDirectory(prefix="ga-baseline-") as tmp:
        params = TrialParams(indiv_id=0, parent_id=None, graph=preset_graph(name), restore_dir=None,
                             save_dir=str(Path(tmp) / "000000"), shared_ids=None,
                             mutation=f"equal-compute baseline {name}", seed=seed, fitness=fitness)
        result = trainer(params, data, model_cfg, train_cfg, on_epoch)
    dev = result.get("dev_f1")
    return PresetBaseline(
        preset=name, budget=budget, fitness=fitness, val_f1=tuple(curves["val_f1"]), val_em=tuple(curves["val_em"]),
        val_loss=tuple(curves["val_loss"]), kept_epoch=int(result["best_epoch"]),
        dev_f1=None if dev is None else float(dev), seconds=time.perf_counter() - t0,
        train_examples=budget * len(data.train), params=int(result["total_params"]), seed=seed, key=key,
        created=_now())


def train_presets(
    names: Sequence[str],
    storage_root: str | os.PathLike[str],
    data_cfg: DataConfig,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    budget: int,
    *,
    fitness: Fitness = Fitness(),
    seed: int = 0,
    data: Dataset | None = None,
    cache_dir: str | None = None,
    trainer: Trainer | None = None,
    on_progress: ProgressCallback | None = None,
) -> tuple[PresetBaseline, ...]:
    """Every preset of ``names`` trained alone (:func:`train_preset`, in order), the data loaded once.

    Pass ``baseline_presets(space.presets)`` for a search's baseline; the
    arguments are :func:`train_preset`'s.

    Raises:
        ValueError: for no preset, a repeated or an unknown one (before any training).
    """
    if not names or len(set(names)) != len(names):
        raise ValueError(f"baseline presets must be distinct and at least one, got {list(names)}")
    for name in names:
        preset_graph(name)  # an unknown name fails before hours of training, naming the known ones
    if data is None and any(cached_preset(storage_root, n, data_cfg, model_cfg, train_cfg, budget, fitness=fitness,
                                          seed=seed) is None for n in names):
        data = load_dataset(data_cfg, cache_dir)
    return tuple(train_preset(n, storage_root, data_cfg, model_cfg, train_cfg, budget, fitness=fitness, seed=seed,
                              data=data, cache_dir=cache_dir, trainer=trainer, on_progress=on_progress)
                 for n in names)

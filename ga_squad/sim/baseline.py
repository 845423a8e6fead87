"""The equal-compute baseline: the default reader trained alone for the search's whole budget.

A search spends ``trials x epochs-per-trial`` trial-epochs. The plainest
alternative a user has is to spend the same trial-epochs training the
default reader (today :func:`ga_squad.search.graph.base_reader`) once, from
scratch, with early stopping. A search only pays off if its best beats that;
so the benchmark, ``make run`` and the report state this baseline next to the
search's best.

:func:`equal_compute_baseline` trains it (one :func:`ga_squad.reader.training.run_trial`
with ``epochs = budget``) and records the selection F1 after every epoch, so
one run answers every budget point ``1..budget``: the best F1 reachable with
``b`` trial-epochs is the best of the first ``b`` epochs (early stopping only
ever ends the curve early, after which it stays flat).

The curve is cached in ``<storage_root>/cache/baseline-<key>.json`` (written
atomically) so that it is computed once per data and configuration. The key
covers the data (files' digests and :class:`~ga_squad.reader.dataset.DataConfig`,
via :func:`ga_squad.reader.data_cache.cache_key`), the model options, the
optimiser options except ``epochs``, the graph and the seed; it deliberately
leaves out the budget: training is deterministic per epoch (data order is
seeded by epoch), so the first ``b`` epochs of a longer run *are* the run with
budget ``b``, and one cached curve answers every budget up to its own (every
budget at all once it stopped early). A longer budget retrains and replaces it.

:func:`cached_baseline` only reads the cache (for the report, which must not
train).
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ga_squad.files import write_json_atomic
from ga_squad.reader.config import ModelConfig, TrainConfig
from ga_squad.reader.dataset import DataConfig
from ga_squad.search.contract import TrialParams
from ga_squad.search.graph import Graph, base_reader, canonical_hash
from ga_squad.search.contract import result_score as score

if TYPE_CHECKING:  # TensorFlow only when a baseline is really trained
    from ga_squad.reader.dataset import Dataset

__all__ = [
    "BaselineCurve",
    "TrialRunner",
    "baseline_key",
    "baseline_path",
    "cached_baseline",
    "equal_compute_baseline",
    "whole_budget",
]

_logger = logging.getLogger(__name__)

SCHEMA = 1
#: Patience that never ends a run early: the baseline trains every epoch it is allowed.
UNLIMITED_PATIENCE = 1_000_000


def whole_budget(train_cfg: TrainConfig) -> TrainConfig:
    """The trials' optimiser settings for the baseline that ``run`` and the report state.

    The baseline trains every epoch of the search's budget and keeps the best
    one by validation F1 (selection is its only early stopping). A trial's
    patience of 2 on a validation split of ~80 questions ends the base reader
    after 5 of 24 epochs on the bundled sample, at a score well below what
    the same reader reaches with the budget used up; a baseline that stops
    that early would flatter every search, so it gets the whole budget.
    The patience is a constant, not the budget, so one cached curve answers
    every smaller budget.
    """
    return dataclasses.replace(train_cfg, patience=UNLIMITED_PATIENCE)
#: ``run_trial``'s signature: (params, data, model config, train config, on_epoch) -> result.
TrialRunner = Callable[..., Mapping[str, Any]]


@dataclass(frozen=True)
class BaselineCurve:
    """One baseline run, epoch by epoch.

    Attributes:
        key: The cache key (see :func:`baseline_key`).
        graph_fingerprint: :meth:`Graph.fingerprint` of the reader trained.
        seed: Its trial seed.
        budget: The most epochs it was allowed.
        val_f1: Selection F1 after each epoch trained (the score the search
            selects on; the only F1 of results without a validation split).
        dev_f1: Held-out dev F1 per epoch where known. A trial scores the dev
            set once, on the weights it publishes (the epoch validation
            picked within the whole budget), so that entry is known and the
            others are None (older one-split results report every epoch).
        seconds: Wall-clock seconds of the training run.
        created: ISO time it was computed.
    """

    key: str
    graph_fingerprint: str
    seed: int
    budget: int
    val_f1: tuple[float, ...]
    dev_f1: tuple[float | None, ...]
    seconds: float
    created: str

    def __post_init__(self) -> None:
        if len(self.val_f1) != len(self.dev_f1) or len(self.val_f1) > self.budget:
            raise ValueError("BaselineCurve: val_f1 and dev_f1 need one entry per epoch trained, <= budget")

    @property
    def epochs_run(self) -> int:
        return len(self.val_f1)

    @property
    def stopped_early(self) -> bool:
        """Early stopping ended it before the budget: longer budgets add nothing."""
        return self.epochs_run < self.budget

    def covers(self, budget: int) -> bool:
        """Whether this run answers every budget point up to ``budget``."""
        return budget <= self.budget or self.stopped_early

    def _selected(self, budget: int) -> int | None:
        """Index of the epoch early stopping keeps among the first ``budget`` (None: none trained)."""
        if not self.covers(budget):
            raise ValueError(f"baseline trained for {self.budget} epochs cannot answer budget {budget}")
        seen = self.val_f1[:max(budget, 0)]
        if not seen:
            return None
        return max(range(len(seen)), key=lambda i: (seen[i], -i))  # the earliest best, as run_trial keeps

    def best_at(self, budget: int) -> float:
        """Best selection F1 within ``budget`` trial-epochs (-inf for budget 0)."""
        i = self._selected(budget)
        return -float("inf") if i is None else self.val_f1[i]

    def best_epoch_at(self, budget: int) -> int | None:
        """The epoch (1-based) kept within ``budget`` trial-epochs (None: none trained)."""
        i = self._selected(budget)
        return None if i is None else i + 1

    def dev_at(self, budget: int) -> float | None:
        """Dev F1 of the epoch selected (by validation F1) within ``budget`` trial-epochs; None if not scored."""
        i = self._selected(budget)
        return None if i is None else self.dev_f1[i]

    def best_so_far(self, budget: int | None = None) -> tuple[float, ...]:
        """``best_at(b)`` for every budget point ``b = 1..budget`` (default: its own budget)."""
        budget = self.budget if budget is None else budget
        return tuple(self.best_at(b) for b in range(1, budget + 1))

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineCurve:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"baseline schema {data.get('schema')!r}, expected {SCHEMA}")
        return cls(key=str(data["key"]), graph_fingerprint=str(data["graph_fingerprint"]), seed=int(data["seed"]),
                   budget=int(data["budget"]), val_f1=tuple(float(x) for x in data["val_f1"]),
                   dev_f1=tuple(None if x is None else float(x) for x in data["dev_f1"]), seconds=float(data["seconds"]),
                   created=str(data["created"]))


def baseline_key(data_cfg: DataConfig, model_cfg: ModelConfig, train_cfg: TrainConfig,
                 graph: Graph | None = None, seed: int = 0) -> str:
    """The cache key: data files and settings, model, optimiser (less epochs), graph, seed.

    Computable without loading the data (the report looks a baseline up
    from its configuration alone).
    """
    from ga_squad.reader.data_cache import cache_key

    train = train_cfg.to_dict()
    train.pop("epochs")  # a cached curve answers every budget it covers
    train.pop("seed")  # run_trial takes the trial seed instead
    # A cold start has no start worth keeping and no optimizer to resume: same curve either way.
    train.pop("start_competes", None)
    train.pop("resume_optimizer", None)
    return canonical_hash({
        "baseline_schema": SCHEMA,
        "data": cache_key(data_cfg),
        "model": model_cfg.fingerprint(),
        "train": train,
        "graph": (graph or base_reader()).fingerprint(),
        "seed": seed,
    })


def baseline_path(storage_root: str | os.PathLike[str], key: str) -> Path:
    return Path(storage_root) / "cache" / f"baseline-{key}.json"


def _read(path: Path, key: str) -> BaselineCurve | None:
    try:
        curve = BaselineCurve.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:  # damaged: recompute, never crash
        _logger.warning("ignoring unreadable baseline cache %s: %s", path, exc)
        return None
    if curve.key != key:
        _logger.warning("ignoring baseline cache %s: it holds key %s", path, curve.key)
        return None
    return curve


def cached_baseline(storage_root: str | os.PathLike[str], data_cfg: DataConfig, model_cfg: ModelConfig,
                    train_cfg: TrainConfig, budget: int, *, graph: Graph | None = None,
                    seed: int = 0) -> BaselineCurve | None:
    """The cached curve for this configuration if it covers ``budget``; never trains."""
    key = baseline_key(data_cfg, model_cfg, train_cfg, graph, seed)
    curve = _read(baseline_path(storage_root, key), key)
    return curve if curve is not None and curve.covers(budget) else None


def equal_compute_baseline(
    storage_root: str | os.PathLike[str],
    data_cfg: DataConfig,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    budget: int,
    *,
    graph: Graph | None = None,
    seed: int = 0,
    data: Dataset | None = None,
    cache_dir: str | None = None,
    trainer: TrialRunner | None = None,
) -> BaselineCurve:
    """The default reader trained alone for ``budget`` trial-epochs; cached.

    Args:
        storage_root: Where the cache lives (``<storage_root>/cache/``), e.g.
            the search's ``save_dir_root``.
        data_cfg: The search's data settings.
        model_cfg: The search's model options (``word_dim`` already matching
            the GloVe vectors).
        train_cfg: The search's optimiser options; ``epochs`` is replaced by
            ``budget`` and ``patience`` is the early stopping of this run.
        budget: Trial-epochs (the search's ``trials x epochs per trial``).
        graph: The reader to train (default :func:`base_reader`; a preset may
            be passed).
        seed: Trial seed (initialisation and data order).
        data: The loaded dataset of ``data_cfg``, if the caller has it.
        cache_dir: Preprocessed-array cache, used when ``data`` must be loaded.
        trainer: What trains it (default :func:`ga_squad.reader.training.run_trial`;
            tests wrap it to count calls).

    Returns:
        The curve (from the cache when one covers ``budget``).
    """
    if budget < 1:
        raise ValueError(f"baseline budget must be >= 1 trial-epoch, got {budget}")
    graph = graph or base_reader()
    key = baseline_key(data_cfg, model_cfg, train_cfg, graph, seed)
    path = baseline_path(storage_root, key)
    cached = _read(path, key)
    if cached is not None and cached.covers(budget):
        _logger.info("equal-compute baseline from cache %s", path)
        return cached

    if trainer is None:
        from ga_squad.reader.training import run_trial as trainer
    if data is None:
        from ga_squad.reader.data_cache import load_dataset

        data = load_dataset(data_cfg, cache_dir)
    val: list[float] = []
    dev: list[float | None] = []

    def on_epoch(epoch: int, metrics: Mapping[str, float]) -> None:
        val.append(_required(score(metrics, "f1", split="val"), epoch))
        dev.append(score(metrics, "f1", split="dev"))  # None: the dev set is scored once, at the end

    _logger.info("training the equal-compute baseline: %d epoch(s), seed %d", budget, seed)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="ga-baseline-") as tmp:
        params = TrialParams(indiv_id=0, parent_id=None, graph=graph, restore_dir=None,
                             save_dir=str(Path(tmp) / "000000"), shared_ids=None,
                             mutation="equal-compute baseline", seed=seed)
        result = trainer(params, data, model_cfg, dataclasses.replace(train_cfg, epochs=budget), on_epoch)
    picked = BaselineCurve(key, "", seed, budget, tuple(val), tuple(dev), 0.0, "")._selected(budget)
    final_dev = score(result or {}, "f1", split="dev")
    if picked is not None and dev[picked] is None and final_dev is not None:
        dev[picked] = final_dev  # the published weights' dev F1
    curve = BaselineCurve(key=key, graph_fingerprint=graph.fingerprint(), seed=seed, budget=budget,
                          val_f1=tuple(val), dev_f1=tuple(dev), seconds=time.perf_counter() - t0,
                          created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))
    write_json_atomic(path, curve.to_dict(), indent=1)
    return curve


def _required(value: float | None, epoch: int) -> float:
    if value is None:
        raise ValueError(f"the trainer reported no F1 for epoch {epoch}")
    return value

"""The equal-compute baseline: the best preset, each trained alone for the search's whole budget.

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

One record type, :class:`PresetBaseline`, serves every reader of a baseline:
the per-preset cache ``<storage_root>/cache/baseline-<key>.json`` (computed
once per data, model, optimiser settings, preset, seed, budget and fitness:
:func:`baseline_key`), the search folder's ``baseline.json`` (the list of
them, :func:`write_baselines` / :func:`load_baselines`), ``run``, ``report``,
the notebook and the benchmarks. :func:`comparison_text` words B against a
search's best.

Reading records needs neither TensorFlow nor the tokenizer: ``report`` and
the launcher import this module; only :func:`train_preset` loads them.
"""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ga_squad.files import write_json_atomic
from ga_squad.reader.config import ModelConfig, TrainConfig
from ga_squad.search.contract import TrialParams
from ga_squad.search.fitness import Fitness
from ga_squad.search.graph import canonical_hash
from ga_squad.search.presets import preset as preset_graph

if TYPE_CHECKING:  # annotations only: the dataset module loads the tokenizer
    from ga_squad.reader.dataset import DataConfig, Dataset

__all__ = [
    "ALWAYS_PRESETS",
    "BASELINE_FILE",
    "BaselineFileError",
    "PresetBaseline",
    "ProgressCallback",
    "baseline_key",
    "baseline_path",
    "baseline_presets",
    "best_preset",
    "cached_preset",
    "comparison_text",
    "load_baselines",
    "train_preset",
    "train_presets",
    "whole_budget",
    "write_baselines",
]

_logger = logging.getLogger(__name__)

BASELINE_FILE = "baseline.json"
SCHEMA = 2
#: The presets B always includes, after those the search space starts from.
ALWAYS_PRESETS = ("drqa", "bidaf", "base")
#: Patience that never ends a run early: a baseline trains every epoch of its budget.
UNLIMITED_PATIENCE = 1_000_000

#: ``run_trial``'s signature: (params, data, model config, train config, on_epoch) -> result.
Trainer = Callable[..., Mapping[str, Any]]
#: Called with one JSON-ready event per epoch trained (``event: epoch``) and per preset
#: finished (``event: done``, with the record and whether it came from the cache).
ProgressCallback = Callable[[Mapping[str, Any]], None]


class BaselineFileError(ValueError):
    """A baseline file that cannot be used (damaged, or an older schema); the message names it."""


@dataclass(frozen=True)
class PresetBaseline:
    """One preset trained alone, from scratch, for a search's whole budget.

    Attributes:
        preset: The preset's name (:mod:`ga_squad.search.presets`).
        budget: Trial-epochs it trained (the search's ``trials x epochs``; every one is trained).
        fitness: The search's fitness; the kept epoch is the best by it on validation.
        val_f1: Validation F1 after each epoch (``budget`` entries).
        val_em: Validation exact match after each epoch.
        val_loss: Validation loss after each epoch.
        kept_epoch: The epoch (1-based) whose weights were kept: the best by
            ``fitness`` on validation, the earliest among ties (what the trainer kept).
        dev_f1: The dev F1 of the kept weights, scored once (None: not scored).
        seconds: Wall-clock seconds of its training (model build to dev scored).
        train_examples: Training questions processed (``budget x`` training questions).
        params: The reader's parameters (the trial's ``total_params``); with
            ``train_examples`` a compute proxy across readers of different size.
        seed: Initialisation and data-order seed.
        key: Its cache key (:func:`baseline_key`).
        created: ISO time it was trained.
    """

    preset: str
    budget: int
    fitness: Fitness
    val_f1: tuple[float, ...]
    val_em: tuple[float, ...]
    val_loss: tuple[float, ...]
    kept_epoch: int
    dev_f1: float | None
    seconds: float
    train_examples: int
    params: int
    seed: int
    key: str
    created: str

    def __post_init__(self) -> None:
        if self.budget < 1:
            raise ValueError(f"baseline {self.preset}: budget must be >= 1 trial-epoch, got {self.budget}")
        lengths = {len(self.val_f1), len(self.val_em), len(self.val_loss)}
        if lengths != {self.budget}:
            raise ValueError(f"baseline {self.preset}: one validation score per epoch of its budget "
                             f"({self.budget}) expected, got {sorted(lengths)}")
        if not 1 <= self.kept_epoch <= self.budget:
            raise ValueError(f"baseline {self.preset}: kept epoch {self.kept_epoch} outside 1..{self.budget}")

    @property
    def kept_val_f1(self) -> float:
        """Validation F1 of the kept epoch."""
        return self.val_f1[self.kept_epoch - 1]

    @property
    def kept_val_loss(self) -> float:
        """Validation loss of the kept epoch."""
        return self.val_loss[self.kept_epoch - 1]

    @property
    def value(self) -> float:
        """Its fitness value: the kept epoch's validation metric the fitness ranks by."""
        return self._curve(self.fitness.epoch_metric)[self.kept_epoch - 1]

    @property
    def compute(self) -> int:
        """Training examples x parameters: a FLOPs proxy that compares readers of different size."""
        return self.train_examples * self.params

    def _curve(self, metric: str) -> tuple[float, ...]:
        return {"val_f1": self.val_f1, "val_em": self.val_em, "val_loss": self.val_loss}[metric]

    def kept_within(self, budget: int) -> int:
        """The epoch (1-based) a run of ``budget`` epochs would keep: the trainer's rule on this curve.

        The best by the fitness's epoch metric, ties broken as
        :func:`ga_squad.reader.training.run_trial` breaks them (the lower loss
        for a score, the higher F1 for a loss), then the earliest. Training
        is seeded per epoch, so the first ``budget`` epochs of this run are
        the run with that budget.
        """
        if not 1 <= budget <= self.budget:
            raise ValueError(f"baseline {self.preset} trained {self.budget} epochs; cannot answer budget {budget}")
        metric = self.fitness.epoch_metric
        score = self.val_em if metric == "val_em" else self.val_f1
        kept = 0
        for i in range(1, budget):
            if metric == "val_loss":
                better = self.val_loss[i] < self.val_loss[kept] or (
                    self.val_loss[i] == self.val_loss[kept] and self.val_f1[i] > self.val_f1[kept])
            else:
                better = score[i] > score[kept] or (score[i] == score[kept] and self.val_loss[i] < self.val_loss[kept])
            if better:
                kept = i
        return kept + 1

    def best_so_far(self) -> tuple[float, ...]:
        """Validation F1 of the epoch kept within ``b`` trial-epochs, for ``b = 1..budget``.

        With an F1 fitness this is the running maximum of ``val_f1``; with a
        loss fitness, the F1 of the lowest-loss epoch so far.
        """
        return tuple(self.val_f1[self.kept_within(b) - 1] for b in range(1, self.budget + 1))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (lists, not tuples: equal to itself read back from JSON)."""
        data = dataclasses.asdict(self)
        data["fitness"] = self.fitness.to_dict()
        for curve in ("val_f1", "val_em", "val_loss"):
            data[curve] = list(data[curve])
        return {"schema": SCHEMA, **data}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PresetBaseline:
        """Parse :meth:`to_dict`'s output.

        Raises:
            BaselineFileError: for another schema or missing fields (named).
        """
        if data.get("schema") != SCHEMA:
            raise BaselineFileError(_old_schema(data.get("schema")))
        try:
            dev = data["dev_f1"]
            return cls(preset=str(data["preset"]), budget=int(data["budget"]),
                       fitness=Fitness.from_dict(data["fitness"]),
                       val_f1=tuple(float(x) for x in data["val_f1"]),
                       val_em=tuple(float(x) for x in data["val_em"]),
                       val_loss=tuple(float(x) for x in data["val_loss"]),
                       kept_epoch=int(data["kept_epoch"]), dev_f1=None if dev is None else float(dev),
                       seconds=float(data["seconds"]), train_examples=int(data["train_examples"]),
                       params=int(data["params"]), seed=int(data["seed"]), key=str(data["key"]),
                       created=str(data["created"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise BaselineFileError(f"not a preset baseline record ({type(exc).__name__}: {exc})") from exc


def _old_schema(schema: Any) -> str:
    return (f"baseline schema {schema!r}, expected {SCHEMA}: it was written before the baseline became the "
            f"best preset (schema 1 trained one reader); delete it, or recompute it: `python -m ga_squad run` "
            f"writes a new one after a search, or run the search's trial command with "
            f"`--equal-compute-baseline TRIALS --baseline-out FILE`")


def baseline_presets(space_presets: Sequence[str] = ()) -> tuple[str, ...]:
    """The presets B is chosen from: the search space's, then :data:`ALWAYS_PRESETS`; order kept, no repeats."""
    return tuple(dict.fromkeys((*space_presets, *ALWAYS_PRESETS)))


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
    # why here: the data cache module loads the tokenizer (nltk), which report and launch never need.
    from ga_squad.reader.data_cache import cache_key

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


def baseline_path(storage_root: str | os.PathLike[str], key: str) -> Path:
    """Where the record of ``key`` is cached (the only place that knows)."""
    return Path(storage_root) / "cache" / f"baseline-{key}.json"


def _read_cache(path: Path, key: str) -> PresetBaseline | None:
    try:
        record = PresetBaseline.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:  # damaged: retrain, never crash (json errors are ValueErrors)
        _logger.warning("ignoring unreadable baseline cache %s: %s", path, exc)
        return None
    if record.key != key:
        _logger.warning("ignoring baseline cache %s: it holds key %s", path, record.key)
        return None
    return record


def cached_preset(storage_root: str | os.PathLike[str], name: str, data_cfg: DataConfig, model_cfg: ModelConfig,
                  train_cfg: TrainConfig, budget: int, *, fitness: Fitness = Fitness(),
                  seed: int = 0) -> PresetBaseline | None:
    """The cached record of this preset and configuration, or None; never trains."""
    key = baseline_key(name, data_cfg, model_cfg, train_cfg, budget, fitness=fitness, seed=seed)
    return _read_cache(baseline_path(storage_root, key), key)


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
    record = _read_cache(path, key)
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
        # why here: training imports TensorFlow, which reading a record never needs.
        from ga_squad.reader.training import run_trial as trainer
    if data is None:
        from ga_squad.reader.data_cache import load_dataset  # why here: the tokenizer, as in baseline_key

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
        from ga_squad.reader.data_cache import load_dataset  # why here: the tokenizer, as in baseline_key

        data = load_dataset(data_cfg, cache_dir)
    return tuple(train_preset(n, storage_root, data_cfg, model_cfg, train_cfg, budget, fitness=fitness, seed=seed,
                              data=data, cache_dir=cache_dir, trainer=trainer, on_progress=on_progress)
                 for n in names)


def best_preset(records: Sequence[PresetBaseline]) -> PresetBaseline:
    """B: the record whose kept epoch is best by the fitness on validation (the first among ties).

    Dev F1 plays no part: it is reported, never chosen on.

    Raises:
        ValueError: for no record, or records of different fitnesses or budgets (not comparable).
    """
    if not records:
        raise ValueError("no preset baseline to choose from")
    if len({r.fitness for r in records}) > 1 or len({r.budget for r in records}) > 1:
        raise ValueError("preset baselines of different fitnesses or budgets are not comparable: "
                         + ", ".join(f"{r.preset} ({r.fitness.describe()}, {r.budget} epochs)" for r in records))
    return min(records, key=lambda r: r.fitness.sort_key(r.value))


def write_baselines(path: str | os.PathLike[str], records: Sequence[PresetBaseline]) -> Path:
    """Write a search's baseline (one record per preset) atomically, e.g. to ``<search>/baseline.json``."""
    best_preset(records)  # comparable, or refused before anything is written
    if len({r.preset for r in records}) != len(records):
        raise ValueError(f"one record per preset expected, got {[r.preset for r in records]}")
    path = Path(path)
    write_json_atomic(path, {"schema": SCHEMA, "baselines": [r.to_dict() for r in records]}, indent=1)
    return path


def load_baselines(search_root: str | os.PathLike[str]) -> tuple[PresetBaseline, ...] | None:
    """The baseline stored in a search folder (:data:`BASELINE_FILE`), or None when none was computed.

    Raises:
        BaselineFileError: if the file is damaged or of another schema; the
            message names the file and, for an old one, says to recompute or delete it.
    """
    path = Path(search_root) / BASELINE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BaselineFileError(f"{path}: not an equal-compute baseline file ({exc})") from exc
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
        raise BaselineFileError(f"{path}: {_old_schema(data.get('schema') if isinstance(data, Mapping) else None)}")
    try:
        records = tuple(PresetBaseline.from_dict(d) for d in data["baselines"])
        best_preset(records)
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineFileError(f"{path}: not an equal-compute baseline file ({exc})") from exc
    return records


def _f1(value: float | None) -> str:
    return "not scored" if value is None else f"{value:.2f}"


def comparison_text(
    records: Sequence[PresetBaseline],
    best_val_f1: float | None = None,
    best_dev_f1: float | None = None,
    *,
    best_id: int | None = None,
    search_seconds: float | None = None,
    search_epochs: int | None = None,
) -> str:
    """B by name against the search's best: figures, the gaps on validation and dev, the verdict.

    Args:
        records: The presets trained (:func:`load_baselines`).
        best_val_f1: The search's best individual's validation F1 (None: only B is described).
        best_dev_f1: Its dev F1.
        best_id: Its id.
        search_seconds: The search's wall-clock seconds.
        search_epochs: The trial-epochs the search trained.

    Returns:
        Two or three lines. The search "beat the best preset" only when it is
        ahead on validation and on dev F1 (on validation alone when dev is unknown).
    """
    b = best_preset(records)
    lines = [f"equal-compute baseline B = {b.preset}: the best by {b.fitness.describe()} on validation of "
             f"{len(records)} presets ({', '.join(r.preset for r in records)}), each trained alone from scratch for "
             f"{b.budget} trial-epochs: validation F1 {b.kept_val_f1:.2f}, dev F1 {_f1(b.dev_f1)} (epoch "
             f"{b.kept_epoch} kept), {b.seconds:.0f} s ({b.train_examples:,} training examples x {b.params:,} "
             f"parameters)."]
    others = [r for r in records if r is not b]
    if others:
        lines.append("other presets: " + "; ".join(
            f"{r.preset} validation F1 {r.kept_val_f1:.2f}, dev F1 {_f1(r.dev_f1)}, {r.seconds:.0f} s" for r in others)
            + f" (training all {len(records)} took {sum(r.seconds for r in records):.0f} s).")
    if best_val_f1 is None:
        return "\n".join(lines)
    who = "search best" if best_id is None else f"search best (individual {best_id})"
    spent = "".join([f", {search_seconds:.0f} s" if search_seconds is not None else "",
                     f", {search_epochs} trial-epochs" if search_epochs is not None else ""])
    val_gap = best_val_f1 - b.kept_val_f1
    dev_gap = None if best_dev_f1 is None or b.dev_f1 is None else best_dev_f1 - b.dev_f1
    gaps = f"{val_gap:+.2f} validation F1" + ("" if dev_gap is None else f", {dev_gap:+.2f} dev F1")
    lines.append(f"{who}: validation F1 {best_val_f1:.2f}, dev F1 {_f1(best_dev_f1)}{spent}; against B: {gaps}: "
                 f"{_verdict(val_gap, dev_gap, b.preset)}.")
    return "\n".join(lines)


def _verdict(val_gap: float, dev_gap: float | None, name: str) -> str:
    if dev_gap is None:
        return ("the search beat the best preset on validation F1 (dev F1 unknown)" if val_gap > 0 else
                f"the search did not beat the best preset: {name} trained alone scores higher on validation")
    if val_gap > 0 and dev_gap > 0:
        return "the search beat the best preset"
    if val_gap <= 0 and dev_gap <= 0:
        return f"the search did not beat the best preset: {name} trained alone gives a better reader"
    ahead, behind = ("validation", "dev") if val_gap > 0 else ("dev", "validation")
    return f"the search did not beat the best preset: ahead on {ahead} F1 but not on {behind} F1"

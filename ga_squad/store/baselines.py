"""The equal-compute baseline's record: one type, its files, and the choice of B.

:class:`PresetBaseline` is one preset trained alone, from scratch, for a
search's whole budget (trained by :mod:`ga_squad.reader.baseline`). Every
reader of a baseline uses this one type: the per-preset cache
``<storage_root>/cache/baseline-<key>.json``, the search folder's
``baseline.json`` (:func:`write_baselines` / :func:`load_baselines`), ``run``,
``report``, the notebook and the benchmarks. ``B`` is the record whose kept
epoch is best by the search's fitness on validation (:func:`best_preset`);
dev never chooses anything. Pure Python: reading records needs neither
TensorFlow nor the tokenizer.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ga_squad.files import write_json_atomic
from ga_squad.search.fitness import Fitness

__all__ = [
    "ALWAYS_PRESETS",
    "BASELINE_FILE",
    "SCHEMA",
    "BaselineFileError",
    "PresetBaseline",
    "baseline_path",
    "baseline_presets",
    "best_preset",
    "load_baselines",
    "read_cached",
    "write_baselines",
]

_logger = logging.getLogger(__name__)

BASELINE_FILE = "baseline.json"
SCHEMA = 2
#: The presets B always includes, after those the search space starts from.
ALWAYS_PRESETS = ("drqa", "bidaf", "base")


class BaselineFileError(ValueError):
    """A baseline file that cannot be used (damaged, or of another schema); the message names it."""


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
            raise BaselineFileError(_other_schema(data.get("schema")))
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


def _other_schema(schema: Any) -> str:
    return (f"baseline schema {schema!r}, expected {SCHEMA}; delete it, or recompute it: `python -m ga_squad run` "
            f"writes a new one after a search, or run the search's trial command with "
            f"`--equal-compute-baseline TRIALS --baseline-out FILE`")


def baseline_presets(space_presets: Sequence[str] = ()) -> tuple[str, ...]:
    """The presets B is chosen from: the search space's, then :data:`ALWAYS_PRESETS`; order kept, no repeats."""
    return tuple(dict.fromkeys((*space_presets, *ALWAYS_PRESETS)))


def baseline_path(storage_root: str | os.PathLike[str], key: str) -> Path:
    """Where the record of ``key`` is cached (the only place that knows)."""
    return Path(storage_root) / "cache" / f"baseline-{key}.json"


def read_cached(path: Path, key: str) -> PresetBaseline | None:
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
            message names the file and, for another schema, says to recompute or delete it.
    """
    path = Path(search_root) / BASELINE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise BaselineFileError(f"{path}: not an equal-compute baseline file ({exc})") from exc
    if not isinstance(data, Mapping) or data.get("schema") != SCHEMA:
        raise BaselineFileError(f"{path}: {_other_schema(data.get('schema') if isinstance(data, Mapping) else None)}")
    try:
        records = tuple(PresetBaseline.from_dict(d) for d in data["baselines"])
        best_preset(records)
    except (KeyError, TypeError, ValueError) as exc:
        raise BaselineFileError(f"{path}: not an equal-compute baseline file ({exc})") from exc
    return records

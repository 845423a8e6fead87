"""The equal-compute baseline beside a search: did the search pay off?

A search spends ``trials x epochs-per-trial`` trial-epochs. The plainest
alternative is to spend them training the default reader once
(:mod:`ga_squad.sim.baseline` trains and caches that curve). ``python -m
ga_squad run`` computes it after the search and stores the outcome in the
search folder as ``baseline.json``; the run's summary and the report read it
from there and state it next to the search's best, on the same score (the
validation F1 both select on) and on the held-out dev set.

This module only reads, writes and words that record; it never trains.
"""

from __future__ import annotations

import dataclasses
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

from ga_squad.files import write_json_atomic

__all__ = ["BASELINE_FILE", "BaselineOutcome", "comparison_text", "load_outcome", "write_outcome"]

BASELINE_FILE = "baseline.json"
SCHEMA = 1


@dataclass(frozen=True)
class BaselineOutcome:
    """The equal-compute baseline of one search.

    Attributes:
        reader: The preset trained (``base`` unless the search seeds from others).
        budget: Trial-epochs it was allowed (the search's ``trials x epochs``).
        val_f1: Its best validation F1 within ``budget`` (the epoch kept).
        dev_f1: The dev F1 of the weights that pick published (None: not scored).
        epochs_run: Epochs it really trained (fewer when early stopping ended it).
        seconds: Wall-clock seconds the training took when it was computed.
        cache_path: The cached curve it came from.
        best_epoch: The epoch (1-based) whose weights score ``val_f1``.
    """

    reader: str
    budget: int
    val_f1: float
    dev_f1: float | None
    epochs_run: int
    seconds: float
    cache_path: str
    best_epoch: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"schema": SCHEMA, **dataclasses.asdict(self)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BaselineOutcome:
        if data.get("schema") != SCHEMA:
            raise ValueError(f"baseline outcome schema {data.get('schema')!r}, expected {SCHEMA}")
        dev = data.get("dev_f1")
        return cls(reader=str(data["reader"]), budget=int(data["budget"]), val_f1=float(data["val_f1"]),
                   dev_f1=None if dev is None else float(dev), epochs_run=int(data["epochs_run"]),
                   seconds=float(data["seconds"]), cache_path=str(data["cache_path"]),
                   best_epoch=None if data.get("best_epoch") is None else int(data["best_epoch"]))


def write_outcome(path: str | os.PathLike[str], outcome: BaselineOutcome) -> Path:
    path = Path(path)
    write_json_atomic(path, outcome.to_dict(), indent=1)
    return path


def load_outcome(search_root: str | os.PathLike[str]) -> BaselineOutcome | None:
    """The outcome stored in a search folder, or None when none was computed.

    Raises:
        ValueError: if the file exists but is not a baseline outcome (named).
    """
    path = Path(search_root) / BASELINE_FILE
    try:
        return BaselineOutcome.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        return None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{path}: not an equal-compute baseline record ({exc})") from exc


def comparison_text(outcome: BaselineOutcome, best_val_f1: float | None, best_dev_f1: float | None) -> str:
    """One or two sentences: the baseline's score and whether the search's best beats it."""
    stopped = f", early stopping ended it after {outcome.epochs_run}" if outcome.epochs_run < outcome.budget else ""
    best = "" if outcome.best_epoch is None else f", best at epoch {outcome.best_epoch}"
    dev = "" if outcome.dev_f1 is None else f", dev F1 {outcome.dev_f1:.2f}"
    head = (f"equal-compute baseline: the {outcome.reader} reader trained alone for {outcome.budget} "
            f"trial-epochs{stopped}{best}: validation F1 {outcome.val_f1:.2f}{dev}.")
    if best_val_f1 is None:
        return head
    margin = best_val_f1 - outcome.val_f1
    verdict = "the search pays off" if margin > 0 else "the search does not pay off"
    best_dev = "" if best_dev_f1 is None else f" (dev F1 {best_dev_f1:.2f})"
    return f"{head}\nsearch best: validation F1 {best_val_f1:.2f}{best_dev}, {margin:+.2f} against it: {verdict}."

"""Find a search on disk and load it: the one input of every analysis.

A search leaves ``<save_dir_root>/<experiment_id>/lineage.jsonl`` (the journal)
and its individuals' checkpoints; :func:`load_search` reads the journal into a
:class:`Search`, which the leaderboard, lineage, warm/cold and plotting
modules take as it is. No running NNI is needed; NNI's trial records can be
attached afterwards (:func:`with_nni`).
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ga_squad.analysis.nni_trials import NniTrial
from ga_squad.store.best import NoBestIndividual, best_individual, individual_dir, rank, search_fitness
from ga_squad.store.contract import MissingScore, result_score
from ga_squad.search.fitness import Fitness
from ga_squad.store.journal import IndividualRecord, read_events, replay, report_order
from ga_squad.store.paths import JOURNAL_NAME

__all__ = [
    "Search",
    "default_cache_dir",
    "find_search_dir",
    "load_search",
    "record_dev_scores",
    "record_f1",
    "record_initial_f1",
    "result_number",
    "with_nni",
]

logger = logging.getLogger(__name__)


def result_number(result: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    """A numeric entry of a trial's result dict (``default`` when absent or not a number).

    Trials report free-form dicts, so every reader goes through here rather
    than trusting a key to exist or to hold a number (a bool is not one).
    """
    value = result.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)


def record_f1(record: IndividualRecord) -> float:
    """An individual's validation F1 (``val_f1``, which ``default`` repeats), never its dev F1.

    Not necessarily what the search ranks by (that is the search's fitness,
    :attr:`Search.fitness`, e.g. ``val_loss``): the journal's ``value`` is
    never read as an F1.

    Raises:
        MissingScore: if the result has no validation F1 (naming ``val_f1``).
    """
    f1 = result_score(record.result, "f1", split="val")
    if f1 is None:
        f1 = result_number(record.result, "default")
    if f1 is None:
        raise MissingScore(f"individual {record.indiv_id}'s result has no 'val_f1' (keys: {sorted(record.result)})")
    return f1


def record_initial_f1(record: IndividualRecord) -> float | None:
    """The fitness F1 of a trial's starting weights (inherited or fresh), before training."""
    return result_score(record.result, "f1", split="val", initial=True)


def record_dev_scores(record: IndividualRecord) -> tuple[float | None, float | None]:
    """``(dev F1, dev EM)``: the official dev set, scored once on the published weights, never selected on."""
    return result_score(record.result, "f1", split="dev"), result_score(record.result, "em", split="dev")


def _is_search_dir(path: Path) -> bool:
    return (path / JOURNAL_NAME).is_file()


def find_search_dir(path: str | os.PathLike[str], experiment_id: str | None = None) -> Path:
    """The folder of one search.

    Args:
        path: Either a search folder (holding ``lineage.jsonl``) or a storage
            root holding experiment folders.
        experiment_id: Pick this experiment under the root; None picks the
            one whose journal was written last.

    Returns:
        The search folder.

    Raises:
        FileNotFoundError: if there is no such search.
    """
    base = Path(path)
    if experiment_id is not None:
        candidate = base / experiment_id
        if _is_search_dir(candidate):
            return candidate
        if _is_search_dir(base) and base.name == experiment_id:
            return base
        raise FileNotFoundError(f"no search {experiment_id!r} under {base} (no {JOURNAL_NAME})")
    if _is_search_dir(base):
        return base
    if not base.is_dir():
        raise FileNotFoundError(f"{base} is not a folder")
    found = [p for p in base.iterdir() if p.is_dir() and _is_search_dir(p)]
    if not found:
        raise FileNotFoundError(f"no search under {base}: no <experiment>/{JOURNAL_NAME}")
    return max(found, key=lambda p: ((p / JOURNAL_NAME).stat().st_mtime, p.name))


@dataclass(frozen=True)
class Search:
    """One search as its journal tells it.

    Attributes:
        root: The search folder.
        experiment_id: Its name (the folder name, NNI's experiment id).
        events: Every journal event, in file order.
        records: indiv_id -> final state, in order of generation.
        order: Ids of reported individuals in the order their results arrived
            (the "trial order" of the curves).
        nni: NNI's trial records joined on ``indiv_id`` (empty unless fetched).
        fitness: What the search ranks by, with its direction
            (:func:`ga_squad.store.best.search_fitness`).
    """

    root: Path
    experiment_id: str
    events: tuple[Mapping[str, Any], ...]
    records: Mapping[int, IndividualRecord]
    order: tuple[int, ...]
    nni: Mapping[int, NniTrial] = field(default_factory=dict)
    fitness: Fitness = Fitness()

    def save_dir(self, indiv_id: int) -> Path:
        """The individual's folder in this search folder (:func:`ga_squad.store.best.individual_dir`).

        The folder the search was loaded from, not the path its journal
        recorded: a copied or moved search reads its own checkpoints.
        """
        record = self.records.get(indiv_id)
        return individual_dir(self.root, indiv_id, record.save_dir if record is not None else None)

    def reported(self) -> list[IndividualRecord]:
        """Reported individuals, in trial order."""
        return [self.records[i] for i in self.order if i in self.records]

    def ranked(self) -> list[IndividualRecord]:
        """Reported individuals, best by the search's fitness first (earlier id first among ties).

        The leaderboard's order (:func:`ga_squad.store.best.rank`).
        """
        return rank(self.records.values(), self.fitness)

    def best(self) -> IndividualRecord | None:
        """The search's best individual, as ``predict`` and ``export`` name it.

        :func:`ga_squad.store.best.best_individual`: the best by the
        search's fitness whose checkpoint is published. When no reported
        individual has one (weights deleted, or a journal copied alone), the
        best by fitness all the same; None before any result.
        """
        try:
            return best_individual(self.root, events=self.events).record
        except NoBestIndividual:
            ranked = self.ranked()
            return ranked[0] if ranked else None


def default_cache_dir(search: Search) -> str | None:
    """``<save_dir_root>/cache`` when it exists (where ``config.yml``'s trials cache the
    preprocessed arrays; the cache is keyed by content, so reading it is safe)."""
    cache = search.root.parent / "cache"
    return str(cache) if cache.is_dir() else None


def load_search(path: str | os.PathLike[str], experiment_id: str | None = None) -> Search:
    """Read a search from disk (see :func:`find_search_dir` for ``path``).

    Raises:
        FileNotFoundError: if there is no such search.
        ga_squad.store.best.FitnessUnknown: if its journal does not say (or
            show) which way its fitness is better.
    """
    root = find_search_dir(path, experiment_id)
    events = read_events(root / JOURNAL_NAME)
    records = replay(events)
    order = tuple(i for i in report_order(events) if i in records)
    return Search(root=root, experiment_id=root.name, events=tuple(events), records=records, order=order,
                  fitness=search_fitness(events, root / JOURNAL_NAME))


def with_nni(search: Search, trials: Mapping[int, NniTrial]) -> Search:
    """The search with NNI's records attached (see :attr:`Search.nni`).

    Lives beside :class:`Search` rather than in :mod:`ga_squad.analysis.nni_trials`
    so that the NNI side never needs to know the search (imports point one way).
    """
    unknown = sorted(set(trials) - set(search.records))
    if unknown:
        logger.warning("NNI reports individuals %s that the journal does not know", unknown)
    return dataclasses.replace(search, nni=dict(trials))

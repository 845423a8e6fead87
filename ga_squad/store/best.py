"""The best individual of a search: one answer, asked for by every reader of a search.

keras-tuner's ``Oracle`` owns "which trial is best" and every caller asks it.
Here that is :func:`best_individual`: ``predict`` and ``export`` (through
:func:`ga_squad.reader.bundle.locate`), ``report``, the leaderboard, the
notebook and ``run`` (through :class:`ga_squad.analysis.search_dir.Search`) and the
benchmarks all name the same individual, because "best" is written once.

What "best" means: the reported individual whose journal ``value`` is best by
the search's :class:`~ga_squad.search.fitness.Fitness` (the key it ranks by
and its direction, from the journal's first event, see
:mod:`ga_squad.store.journal`), the earliest id among ties, among those whose
checkpoint is still published (an individual whose weights are gone is
passed over with a warning). :func:`rank` is the order behind it, which the
leaderboard shows.

A journal that does not start with that record is refused
(:func:`search_fitness`) with a message naming it, never ranked by a guess.

Checkpoints are looked for in the search folder given (its
``individuals/<id>`` layout), not at the absolute paths the journal
recorded, so a search folder that was copied or moved answers for itself.

Pure Python: no TensorFlow, no NNI (``tests/test_layering.py``).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ga_squad.store import checkpoint_store
from ga_squad.search.evolution import Status
from ga_squad.search.fitness import Fitness, FitnessError
from ga_squad.store.journal import IndividualRecord, header, read_events, replay
from ga_squad.store.paths import JOURNAL_NAME, SearchLayout

_logger = logging.getLogger(__name__)

__all__ = [
    "BestIndividual",
    "FitnessUnknown",
    "NoBestIndividual",
    "best_individual",
    "individual_dir",
    "rank",
    "search_fitness",
]

class FitnessUnknown(ValueError):
    """The journal does not say what its search ranked by."""


class NoBestIndividual(LookupError):
    """Nothing to name: no individual reported yet, or none of them has a published checkpoint."""


@dataclass(frozen=True)
class BestIndividual:
    """The best individual of a search, with what it is best by.

    Attributes:
        indiv_id: The individual.
        value: Its fitness value (the journal's ``value``).
        fitness: The key the search ranks by and its direction.
        save_dir: Its folder in the search folder that was read.
        checkpoint: Its published checkpoint (the version directory holding
            ``manifest.json``), or None when it was asked for without one.
        record: Everything the journal says about it.
    """

    indiv_id: int
    value: float
    fitness: Fitness
    save_dir: Path
    checkpoint: Path | None
    record: IndividualRecord


def search_fitness(events: Sequence[Mapping[str, Any]], where: str | os.PathLike[str] = "the journal") -> Fitness:
    """What a search ranks by: its journal's first (``search``) event.

    Args:
        events: The journal's events, in file order.
        where: The journal, for messages.

    Raises:
        FitnessUnknown: if the journal has events but no ``search`` event
            first, or that event's record is unreadable.
    """
    if not events:
        return Fitness()  # an empty journal: no individual to rank either way
    first = header(events)
    if first is None:
        raise FitnessUnknown(f"{where} does not start with a 'search' event saying what its search ranks by; "
                             f"it is not a journal of this version of ga-squad")
    try:
        return Fitness.from_dict(first.get("fitness") or {})
    except FitnessError as exc:
        raise FitnessUnknown(f"{where}: the first event does not say what the search ranks by ({exc})") from None


def rank(records: Iterable[IndividualRecord], fitness: Fitness) -> list[IndividualRecord]:
    """Reported individuals, best first by ``fitness`` (the earliest id among ties).

    The journal's ``value`` of each is its fitness value (the scalar the
    search ranked it by).
    """
    done = [r for r in records if r.status is Status.REPORTED and r.value is not None]
    return sorted(done, key=lambda r: (fitness.sort_key(float(r.value)), r.indiv_id))  # type: ignore[arg-type]


def individual_dir(root: str | os.PathLike[str], indiv_id: int, recorded: str | None = None) -> Path:
    """An individual's folder in the search folder ``root``.

    The layout under ``root`` wins over the path the journal recorded
    (``recorded``), which is where the search *was* written: a copied or
    moved search folder then reads its own checkpoints, never the original's.
    The recorded path is used only when ``root`` has no such folder.
    """
    here = SearchLayout(Path(root)).individual_dir(indiv_id)
    if here.is_dir() or not recorded or not Path(recorded).is_dir():
        return here
    return Path(recorded)


def _published(save_dir: Path) -> Path | None:
    """The published checkpoint in ``save_dir`` whose weights retention left in place, or None."""
    where = checkpoint_store.resolve(save_dir)
    if where is None or (where / checkpoint_store.PRUNED_NAME).exists():
        return None
    return where


def _journal_of(search: str | os.PathLike[str]) -> tuple[Path, Path]:
    """``(search folder, journal file)`` of a search folder or of its journal file."""
    path = Path(search)
    if path.is_dir():
        return path, path / JOURNAL_NAME
    return path.parent, path


def best_individual(
    search: str | os.PathLike[str],
    *,
    events: Sequence[Mapping[str, Any]] | None = None,
    published_only: bool = True,
) -> BestIndividual:
    """The best individual of a search (see the module docstring): the one every reader names.

    Args:
        search: The search folder (holding ``lineage.jsonl``), or the journal file.
        events: The journal's events when the caller has read them already.
        published_only: Skip individuals without a published checkpoint (with a
            warning). False names the best by fitness whatever its weights
            (a benchmark that only retrains its graph).

    Returns:
        The individual, its fitness value, the fitness, and its checkpoint.

    Raises:
        FitnessUnknown: if the journal does not say which way is better (see :func:`search_fitness`).
        NoBestIndividual: if no individual reported, or (``published_only``)
            none of them has a published checkpoint.
    """
    root, journal = _journal_of(search)
    events = read_events(journal) if events is None else events
    fitness = search_fitness(events, journal)
    ranked = rank(replay(events).values(), fitness)
    if not ranked:
        raise NoBestIndividual(f"no trial of the search in {root} has reported yet; wait for one, "
                               f"or pass an individual folder")
    for record in ranked:
        save_dir = individual_dir(root, record.indiv_id, record.save_dir)
        checkpoint = _published(save_dir)
        if checkpoint is not None or not published_only:
            return BestIndividual(record.indiv_id, float(record.value), fitness, save_dir,  # type: ignore[arg-type]
                                  checkpoint, record)
        _logger.warning("individual %d (%s %.4f) has no published checkpoint in %s; taking the next best",
                        record.indiv_id, fitness.key, record.value, save_dir)
    raise NoBestIndividual(f"no reported individual of the search in {root} has a published checkpoint "
                           f"(under {root / 'individuals'})")

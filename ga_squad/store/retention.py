"""Checkpoint retention: delete the weights of individuals that can no longer be parents.

Without it the storage grows by one checkpoint per trial (about 6.5 MB for a
default-size reader). A parent is always chosen among the living population
at the moment a child is emitted (:mod:`ga_squad.store.engine`), and a child
reads its parent's weights while it runs, so the weights worth keeping are
those of (:func:`keepers`):

* every member of the living population (a future parent);
* every parent of a running child (it may still be reading), and of a child
  failed by an uncertain end attribution (it may in truth still be running);
* the ``top_k`` best reported individuals of the whole search (for reuse and
  re-evaluation).

Anything else that reported is pruned through
:func:`ga_squad.store.checkpoint_store.prune`: its weights go, its manifest
(metrics), predictions and lineage stay; each deletion is journaled
(``pruned``). Pruning first removes the folder's leftovers of killed
publishes (:func:`~ga_squad.store.checkpoint_store.cleanup`); the other
temporary files of a search are swept by :mod:`ga_squad.store.leftovers`. Failed individuals are left alone: a late result may still
bring them into the population. Deferred requests are bound to a parent only
when emitted, so they never pin one.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ga_squad.store.checkpoint_store import prune
from ga_squad.search.evolution import Individual, OptimizeMode
from ga_squad.store.paths import SearchLayout

_logger = logging.getLogger(__name__)

__all__ = ["RetentionConfig", "apply_retention", "keepers", "prunable"]


@dataclass(frozen=True)
class RetentionConfig:
    """Which checkpoints to keep (the tuner's ``keep`` classArg).

    Attributes:
        top_k: Best individuals kept beyond the population and the parents in
            use; None keeps every checkpoint (no retention, the default).
    """

    top_k: int | None = None

    def __post_init__(self) -> None:
        if self.top_k is not None and (isinstance(self.top_k, bool) or not isinstance(self.top_k, int)
                                       or self.top_k < 0):
            raise ValueError(f"keep must be 'all' or a non-negative integer (top-k), got {self.top_k!r}")

    @classmethod
    def from_arg(cls, keep: Any) -> RetentionConfig:
        """``keep: all`` (or null) keeps everything; ``keep: <k>`` keeps population + parents in use + top-k."""
        if keep is None or keep == "all":
            return cls(None)
        return cls(keep)

    @property
    def enabled(self) -> bool:
        return self.top_k is not None


def keepers(
    reported: Iterable[Individual],
    population: Iterable[Individual],
    parents_in_use: Iterable[int],
    top_k: int,
    mode: OptimizeMode,
) -> set[int]:
    """Ids whose weights must stay (see the module docstring)."""
    keep = {m.indiv_id for m in population} | set(parents_in_use)
    sign = 1.0 if mode is OptimizeMode.MAXIMIZE else -1.0
    # ties go to the older individual, like every other choice of the search
    best = heapq.nsmallest(top_k, reported, key=lambda i: (-sign * (i.result or 0.0), i.indiv_id))
    return keep | {i.indiv_id for i in best}


def prunable(reported: Iterable[Individual], keep: set[int], pruned: set[int]) -> list[int]:
    """Reported individuals not kept and not yet pruned, by id."""
    return sorted(i.indiv_id for i in reported if i.indiv_id not in keep and i.indiv_id not in pruned)


def apply_retention(
    config: RetentionConfig,
    layout: SearchLayout,
    reported: list[Individual],
    population: Iterable[Individual],
    parents_in_use: Iterable[int],
    mode: OptimizeMode,
    pruned: set[int],
    log: Callable[..., None],
) -> int:
    """Prune what :func:`prunable` names, journal each deletion, update ``pruned``; returns bytes freed."""
    if not config.enabled:
        return 0
    assert config.top_k is not None
    keep = keepers(reported, population, parents_in_use, config.top_k, mode)
    freed = 0
    for indiv_id in prunable(reported, keep, pruned):
        try:
            size = prune(layout.individual_dir(indiv_id), reason="retention: no longer a possible parent")
        except OSError as exc:  # a storage hiccup must not stop the search; retried next time
            _logger.warning("could not prune individual %d: %s", indiv_id, exc)
            continue
        pruned.add(indiv_id)
        freed += size
        log("pruned", indiv_id=indiv_id, bytes=size, reason="not in the population, no child running, not top-k")
    if freed:
        _logger.info("retention freed %d bytes", freed)
    return freed

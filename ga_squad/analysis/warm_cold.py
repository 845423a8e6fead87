"""Does inheriting weights help? Warm- against cold-started trials.

Two views: within one search, trials grouped by epochs trained
(:func:`warm_vs_cold`, confounded by which graphs got warm starts), and
against a no-sharing replay of the same search, the same children trained
both ways (:func:`paired_children`, the controlled comparison).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ga_squad.analysis.search_dir import (
    Search,
    record_f1,
    record_initial_f1,
    result_number,
)
from ga_squad.search.evolution import Status
from ga_squad.store.journal import IndividualRecord

__all__ = ["EpochGroup", "PairedChild", "WarmColdComparison", "paired_children", "warm_vs_cold"]


@dataclass(frozen=True)
class EpochGroup:
    """Warm- vs cold-started trials that trained the same number of epochs.

    Attributes:
        epochs: Epochs trained.
        warm_ids, cold_ids: The individuals in each group.
        warm_f1, cold_f1: Mean final validation F1 (None for an empty group).
        warm_initial_f1, cold_initial_f1: Mean fitness F1 (validation) before training.
    """

    epochs: int
    warm_ids: tuple[int, ...]
    cold_ids: tuple[int, ...]
    warm_f1: float | None
    cold_f1: float | None
    warm_initial_f1: float | None
    cold_initial_f1: float | None


@dataclass(frozen=True)
class WarmColdComparison:
    """Warm-started children against cold-started trials.

    Attributes:
        groups: One group per number of epochs trained, ascending.
        pairs: ``(child_id, parent_id, child F1, parent F1)`` for each
            warm-started child whose parent reported.
    """

    groups: tuple[EpochGroup, ...]
    pairs: tuple[tuple[int, int, float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _mean_initial_f1(records: Sequence[IndividualRecord]) -> float | None:
    return _mean([v for r in records if (v := record_initial_f1(r)) is not None])


def warm_vs_cold(search: Search) -> WarmColdComparison:
    """Compare warm-started with cold-started trials after the same number of epochs.

    A child whose warm start failed (damaged parent checkpoint) counts as cold:
    what matters is whether weights were really loaded.
    """
    by_epochs: dict[int, tuple[list[IndividualRecord], list[IndividualRecord]]] = {}
    for rec in search.reported():
        epochs = int(result_number(rec.result, "epochs", 0) or 0)
        warm, cold = by_epochs.setdefault(epochs, ([], []))
        (warm if rec.result.get("warm_start") else cold).append(rec)
    groups = []
    for epochs in sorted(by_epochs):
        warm, cold = by_epochs[epochs]
        groups.append(EpochGroup(
            epochs, tuple(r.indiv_id for r in warm), tuple(r.indiv_id for r in cold),
            _mean([record_f1(r) for r in warm]), _mean([record_f1(r) for r in cold]),
            _mean_initial_f1(warm), _mean_initial_f1(cold)))
    pairs = []
    for rec in search.reported():
        parent = search.records.get(rec.parent_id) if rec.parent_id is not None else None
        if rec.result.get("warm_start") and parent is not None and parent.status is Status.REPORTED:
            pairs.append((rec.indiv_id, parent.indiv_id, record_f1(rec), record_f1(parent)))
    return WarmColdComparison(tuple(groups), tuple(pairs))


@dataclass(frozen=True)
class PairedChild:
    """One child trained twice on the same graph, seed and epochs: warm and cold.

    Attributes:
        indiv_id: Its id (the same in both searches).
        parent_id: Its parent.
        epochs: Epochs trained (equal in both).
        warm_f1, cold_f1: Final validation F1 with and without inherited weights.
        warm_initial_f1, cold_initial_f1: Fitness F1 (validation) before training.
    """

    indiv_id: int
    parent_id: int
    epochs: int
    warm_f1: float
    cold_f1: float
    warm_initial_f1: float | None
    cold_initial_f1: float | None


def paired_children(warm: Search, cold: Search) -> list[PairedChild]:
    """Children of a search paired with the same individuals of a no-sharing replay.

    ``cold`` is typically a :func:`ga_squad.sim.local_search.run_local_search`
    with ``weight_sharing=False`` and ``replay=`` the first search's proposals:
    the same graphs, parents and seeds, trained from scratch. A pair needs the
    same graph and parent, a real warm start in ``warm``, none in ``cold``,
    and the same number of epochs.
    """
    pairs = []
    for rec in warm.reported():
        other = cold.records.get(rec.indiv_id)
        if (rec.parent_id is None or other is None or other.status is not Status.REPORTED
                or other.value is None or other.parent_id != rec.parent_id
                or other.graph.fingerprint() != rec.graph.fingerprint()
                or not rec.result.get("warm_start") or other.result.get("warm_start")):
            continue
        epochs, other_epochs = result_number(rec.result, "epochs"), result_number(other.result, "epochs")
        if epochs is None or epochs != other_epochs:
            continue
        pairs.append(PairedChild(rec.indiv_id, rec.parent_id, int(epochs), record_f1(rec), record_f1(other),
                                 record_initial_f1(rec), record_initial_f1(other)))
    return pairs

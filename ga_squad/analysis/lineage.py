"""Who descends from whom: parent -> child edges and generations of a search.

What the lineage figure draws and the summary lists, computed from the
journal's records alone (a failed child keeps its edge, without counts).
"""

from __future__ import annotations

from dataclasses import dataclass

from ga_squad.analysis.leaderboard import inherited_fraction
from ga_squad.analysis.search_dir import Search
from ga_squad.search.evolution import Status

__all__ = ["LineageEdge", "generations", "lineage_edges"]


@dataclass(frozen=True)
class LineageEdge:
    """Parent -> child.

    Attributes:
        parent_id: The parent.
        child_id: The child.
        inherited_fraction: Fraction of the child's parameters loaded from the
            parent (None until the child reported).
        shared_layers: Weight ids the tuner offered to share (None if unknown).
        warm_start: Whether the child really loaded weights.
        mutation: How the child was derived.
    """

    parent_id: int
    child_id: int
    inherited_fraction: float | None
    shared_layers: int | None
    warm_start: bool
    mutation: str


def lineage_edges(search: Search) -> list[LineageEdge]:
    """Every parent -> child edge, in order of the child's generation."""
    edges = []
    for rec in search.records.values():
        if rec.parent_id is None:
            continue
        res = rec.result
        fraction = None
        if rec.status is Status.REPORTED and "inherited_params" in res:
            fraction = inherited_fraction(int(res.get("inherited_params") or 0), int(res.get("fresh_params") or 0))
        edges.append(LineageEdge(rec.parent_id, rec.indiv_id, fraction,
                                 None if rec.shared_ids is None else len(rec.shared_ids),
                                 bool(res.get("warm_start", False)), rec.mutation))
    return edges


def generations(search: Search) -> dict[int, int]:
    """indiv_id -> depth in the lineage tree (0 for cold starts and orphans)."""
    depth: dict[int, int] = {}
    for indiv_id, rec in search.records.items():  # generation order: parents come first
        parent = rec.parent_id
        depth[indiv_id] = depth[parent] + 1 if parent is not None and parent in depth else 0
    return depth

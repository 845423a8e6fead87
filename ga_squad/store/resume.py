"""Rebuilding a search: from its journal on resume, from NNI's import data, from manifests.

A resumed tuner (``nnictl resume``, or a dispatcher restarted after a crash)
rebuilds its :class:`~ga_squad.store.registry.Registry` from the lineage
journal (:func:`restore`):

* ids continue at ``max(id) + 1``; the session number is one more than the
  journal's last;
* the population is the reported individuals, by birth order;
* an individual dispatched but never reported whose checkpoint is published
  and complete (its manifest names it and holds the metrics) is **adopted**:
  the trial finished, only its result was lost in flight (e.g. the
  dispatcher died while NNI delivered it). It is journaled ``reported`` with
  ``recovered: "manifest"``;
* the others are marked failed (``lost_on_resume``); if NNI re-runs one and a
  result arrives after all, it is accepted late.

Manifests are read as plain JSON (:mod:`ga_squad.store.checkpoint_store`):
the tuner process never imports TensorFlow.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from ga_squad.store.checkpoint_store import published_metrics
from ga_squad.store.contract import ContractError, TrialParams, result_indiv_id
from ga_squad.search.evolution import Individual, RegularizedEvolution, Status
from ga_squad.search.graph import GraphError
from ga_squad.store.journal import replay
from ga_squad.store.paths import SearchLayout
from ga_squad.store.registry import Registry, params_indiv_id

_logger = logging.getLogger(__name__)

__all__ = ["adopt_contract", "import_result", "recover_from_manifest", "restore"]


def restore(
    registry: Registry, history: list[dict[str, Any]], layout: SearchLayout, evolution: RegularizedEvolution
) -> list[int]:
    """Rebuild ``registry`` and ``evolution`` from journal events (see the module docstring).

    ``registry.session`` must already be set to the new session's number.

    Returns:
        Ids marked ``lost_on_resume``.
    """
    records = replay(history)
    registry.individuals = {i: r.to_individual() for i, r in records.items()}
    registry.next_id = max(records, default=-1) + 1
    registry.cold_starts = sum(1 for r in records.values() if r.parent_id is None)
    registry.pruned = {i for i, r in records.items() if r.pruned_at is not None}
    pending = [i for i, ind in registry.individuals.items() if ind.status in (Status.GENERATED, Status.DISPATCHED)]
    lost: list[int] = []
    with registry.batch():
        evolution.restore(i for i in registry.individuals.values() if i.status is Status.REPORTED)
        for indiv_id in pending:
            indiv = registry.individuals[indiv_id]
            if recover_from_manifest(registry, indiv, layout, evolution, records[indiv_id].parameter_id):
                continue
            lost.append(indiv_id)
            registry.individuals[indiv_id] = indiv.evolve(status=Status.FAILED)
            registry.counts["failed"] += 1
            registry.log("failed", indiv_id=indiv_id, parent_id=indiv.parent_id,
                         parameter_id=records[indiv_id].parameter_id, reason="lost_on_resume",
                         detail="dispatched, never reported, no complete checkpoint published")
        registry.log("resumed", next_id=registry.next_id,
                     population=[m.indiv_id for m in evolution.population], lost=lost,
                     recovered=sorted(set(pending) - set(lost)))
    _logger.info(
        "resumed session %d from the journal: %d individuals, population %d, next id %d, "
        "%d recovered from manifests, %d lost",
        registry.session, len(records), len(evolution), registry.next_id, len(pending) - len(lost), len(lost),
    )
    return lost


def recover_from_manifest(
    registry: Registry,
    indiv: Individual,
    layout: SearchLayout,
    evolution: RegularizedEvolution,
    parameter_id: int | None,
) -> bool:
    """Accept the result a complete published checkpoint of ``indiv`` records; False if there is none."""
    metrics = published_metrics(layout.individual_dir(indiv.indiv_id), indiv.indiv_id)
    if metrics is None:
        return False
    _logger.info("individual %d: result recovered from its published checkpoint", indiv.indiv_id)
    registry.counts["recovered"] += 1
    return registry.accept(indiv, metrics, evolution, parameter_id, recovered="manifest")


def adopt_contract(registry: Registry, params: Mapping[str, Any], layout: SearchLayout) -> Individual | None:
    """Register an individual known only from NNI's import data (its contract dict); None if unusable."""
    try:
        contract = TrialParams.from_dict(params, storage_root=layout.root)
    except (ContractError, GraphError, ValueError) as exc:
        _logger.warning("imported result with unusable parameters ignored: %s", exc)
        registry.counts["ignored"] += 1
        return None
    shared = None
    if contract.parent_id is not None:
        shared = contract.shared_ids if contract.shared_ids is not None else frozenset()
    indiv = Individual(
        indiv_id=contract.indiv_id,
        parent_id=contract.parent_id,
        graph=contract.graph,
        shared_ids=shared,
        mutation=contract.mutation,
        status=Status.DISPATCHED,
    )
    registry.add(indiv, None)
    registry.log(
        "generated",
        indiv_id=indiv.indiv_id,
        parent_id=indiv.parent_id,
        graph=indiv.graph.to_dict(),
        shared_ids=sorted(indiv.shared_ids) if indiv.shared_ids is not None else None,
        mutation=indiv.mutation,
        origin="imported",
        seed=contract.seed,
        save_dir=contract.save_dir,
        restore_dir=contract.restore_dir,
    )
    return indiv


def import_result(
    registry: Registry, params: Mapping[str, Any], value: Any, layout: SearchLayout,
    evolution: RegularizedEvolution,
) -> bool:
    """One entry of NNI's import data (see :meth:`SearchEngine.import_result
    <ga_squad.store.engine.SearchEngine.import_result>`); returns whether a result was accepted."""
    indiv_id = params_indiv_id(params)
    claimed = result_indiv_id(value)
    adoptable = True
    if claimed is not None and claimed != indiv_id:
        _logger.warning(
            "imported result names individual %d but came with the parameters of %s "
            "(NNI swapped parameters between trials); it is credited to %d", claimed, indiv_id, claimed)
        indiv_id, adoptable = claimed, False
    if indiv_id is None:
        _logger.warning("imported result without an indiv_id ignored")
        registry.counts["ignored"] += 1
        return False
    indiv = registry.individuals.get(indiv_id)
    if indiv is None and not adoptable:
        _logger.warning("imported result of unknown individual %d ignored: its parameters are lost", indiv_id)
        registry.counts["ignored"] += 1
        return False
    if indiv is None:
        indiv = adopt_contract(registry, params, layout)
        if indiv is None:
            return False
    if indiv.status is Status.REPORTED:
        _logger.debug("imported result of individual %d already known", indiv_id)
        return False
    return registry.accept(indiv, value, evolution, None)

"""Rank a search's reported individuals by its fitness and trace validation F1 over trials.

Pure functions over a loaded :class:`~ga_squad.analysis.search_dir.Search`
returning frozen records, so the same numbers feed the Markdown tables, the
CSV/JSON files, the figures and the ``run`` command's final table.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ga_squad.analysis.search_dir import (
    Search,
    record_dev_scores,
    record_f1,
    result_number,
)
from ga_squad.store.contract import result_score
from ga_squad.search.graph import layer_label
from ga_squad.search.vocabulary import LINEAR, SHORT

__all__ = ["LeaderboardRow", "TrialPoint", "f1_by_id", "inherited_fraction", "leaderboard", "trial_curve"]


@dataclass(frozen=True)
class LeaderboardRow:
    """One reported individual, as ranked by the search's fitness (e.g. validation loss, or F1).

    Attributes:
        rank: 1 = best by the search's fitness
            (:func:`ga_squad.store.best.rank`).
        indiv_id: The individual.
        parent_id: Its parent, or None for a cold start.
        f1: Validation F1 (see :func:`record_f1`).
        em: Validation EM (None if absent).
        dev_f1: Official dev-set F1 of the published weights (never selected on).
        dev_em: Official dev-set EM.
        hidden_layers: Hidden layers of its graph.
        layer_types: ``{type: count}`` of its hidden layers.
        layer_order: Labels of its hidden layers (type, plus a non-default
            cell: ``rnn:lstm``), in topological order from the inputs.
        skips: Skip edges in its graph (outputs' included).
        features: Input features its question/passage inputs use (short names).
        pointers: Its non-linear pointer heads, e.g. ``("end:conditioned",)``.
        inherited_params: Parameters loaded from its parent.
        fresh_params: Parameters initialised fresh.
        inherited_fraction: ``inherited / (inherited + fresh)`` (0 without counts).
        warm_start: Whether it really loaded weights.
        epochs: Epochs trained.
        train_seconds: Training time reported by the trial.
        mutation: How it was derived.
        nni_trial: NNI's trial job id, when NNI records were joined.
        fitness_key: The result key the search ranks by (``default``: the validation F1).
        fitness_mode: ``maximize`` or ``minimize``.
        fitness_value: This individual's value of it (the journal's ``value``).
    """

    rank: int
    indiv_id: int
    parent_id: int | None
    f1: float
    em: float | None
    dev_f1: float | None
    dev_em: float | None
    hidden_layers: int
    layer_types: Mapping[str, int]
    layer_order: tuple[str, ...]
    skips: int
    features: tuple[str, ...]
    pointers: tuple[str, ...]
    inherited_params: int
    fresh_params: int
    inherited_fraction: float
    warm_start: bool
    epochs: int | None
    train_seconds: float | None
    mutation: str
    nni_trial: str | None = None
    fitness_key: str = "default"
    fitness_mode: str = "maximize"
    fitness_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layer_types"] = dict(self.layer_types)
        d["layer_order"] = list(self.layer_order)
        d["features"] = list(self.features)
        d["pointers"] = list(self.pointers)
        return d


def inherited_fraction(inherited: int, fresh: int) -> float:
    """``inherited / (inherited + fresh)``, 0 when both are 0 (no counts reported)."""
    total = inherited + fresh
    return inherited / total if total > 0 else 0.0


def leaderboard(search: Search) -> list[LeaderboardRow]:
    """Reported individuals, best by the search's fitness first (earlier id first among ties)."""
    rows = []
    for rank, rec in enumerate(search.ranked(), start=1):
        res = rec.result
        inherited = int(result_number(res, "inherited_params", 0) or 0)
        fresh = int(result_number(res, "fresh_params", 0) or 0)
        hidden = rec.graph.hidden_layers
        types: dict[str, int] = {}
        for layer in hidden:
            types[layer.type.value] = types.get(layer.type.value, 0) + 1
        epochs = result_number(res, "epochs")
        nni = search.nni.get(rec.indiv_id)
        dev_f1, dev_em = record_dev_scores(rec)
        rows.append(LeaderboardRow(
            rank=rank, indiv_id=rec.indiv_id, parent_id=rec.parent_id, f1=record_f1(rec),
            em=result_score(res, "em", split="val"), dev_f1=dev_f1, dev_em=dev_em, hidden_layers=len(hidden), layer_types=types,
            layer_order=tuple(layer_label(layer) for layer in hidden),
            features=tuple(sorted({SHORT.get(f, f) for name in ("question", "passage")
                                   for f in rec.graph[name].features})),
            pointers=tuple(f"{o}:{rec.graph[o].pointer}" for o in ("begin", "end")
                           if rec.graph[o].pointer != LINEAR),
            skips=sum(len(layer.skips) for layer in rec.graph.layers),
            inherited_params=inherited, fresh_params=fresh, inherited_fraction=inherited_fraction(inherited, fresh),
            warm_start=bool(res.get("warm_start", False)), epochs=None if epochs is None else int(epochs),
            train_seconds=result_number(res, "train_seconds"), mutation=rec.mutation,
            nni_trial=nni.trial_job_id if nni else None, fitness_key=search.fitness.key,
            fitness_mode=search.fitness.mode.value, fitness_value=rec.value,
        ))
    return rows


def f1_by_id(search: Search) -> dict[int, float]:
    """Validation F1 of every reported individual."""
    return {r.indiv_id: record_f1(r) for r in search.reported()}


@dataclass(frozen=True)
class TrialPoint:
    """One reported trial on the validation-F1-over-trials curve.

    Attributes:
        position: 1-based position in trial order (order results arrived).
        indiv_id: The individual.
        f1: Its validation F1.
        best_so_far: Best validation F1 among the first ``position`` trials.
        warm_start: Whether it loaded weights from a parent.
        parent_id: Its parent, or None.
    """

    position: int
    indiv_id: int
    f1: float
    best_so_far: float
    warm_start: bool
    parent_id: int | None


def trial_curve(search: Search) -> list[TrialPoint]:
    """Validation F1 of every reported trial in trial order, with the running best."""
    points: list[TrialPoint] = []
    best = -math.inf
    for n, rec in enumerate(search.reported(), start=1):
        f1 = record_f1(rec)
        best = max(best, f1)
        points.append(TrialPoint(n, rec.indiv_id, f1, best, bool(rec.result.get("warm_start", False)),
                                 rec.parent_id))
    return points

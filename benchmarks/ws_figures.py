"""Figures of the weight-sharing benchmark, from the searches' per-trial lists (pure, no TensorFlow).

Every trial list is a list of :class:`ga_squad.sim.local_search.TrialSummary`
dicts in start order, whose ``f1``/``initial_f1`` are validation scores; a
dict that also holds ``val_f1`` (a trial's own result, where ``f1`` is the dev
F1) is read by that (:func:`val_f1`). "Trial-epochs after trial *i*" is
the sum of the epochs trials 0..i really trained (early stopping included).
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any


__all__ = [
    "best_at_budget",
    "best_so_far",
    "child_starts",
    "compare_replay",
    "compute_to_target",
    "cumulative",
    "curve",
    "epochs_to_reach",
    "fmt",
    "mutation_kind",
    "selection_f1",
    "starts_by_kind",
    "val_f1",
]

#: A child starts "where its parent ended" when its F1 before training is this close (issue 16).
NEAR_PARENT_F1 = 0.5


def cumulative(values: Sequence[float]) -> list[float]:
    out: list[float] = []
    total = 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def best_so_far(scores: Sequence[float | None]) -> list[float]:
    out: list[float] = []
    best = -math.inf
    for f in scores:
        if f is not None and f > best:
            best = f
        out.append(best)
    return out


def val_f1(trial: Mapping[str, Any], initial: bool = False) -> float | None:
    """A trial's validation F1: ``val_f1`` of a result dict, else ``f1`` of a TrialSummary dict.

    :class:`~ga_squad.sim.local_search.TrialSummary` names its validation F1
    ``f1`` (``initial_f1`` before training); a trial's own result names it
    ``val_f1`` and keeps ``f1`` for the dev set, so ``val_f1`` wins.
    """
    prefix = "initial_" if initial else ""
    for key in (f"{prefix}val_f1", f"{prefix}f1"):
        value = trial.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and not math.isnan(value):
            return float(value)
    return None


def selection_f1(trial: Mapping[str, Any]) -> float:
    """The trial's selection F1, -inf for a failed trial (never the best)."""
    value = val_f1(trial)
    return -math.inf if value is None else value


def curve(trials: Sequence[Mapping[str, Any]]) -> tuple[list[float], list[float]]:
    """``(trial-epochs spent after each trial, best selection F1 so far)``."""
    return (cumulative([t["epochs"] for t in trials]), best_so_far([val_f1(t) for t in trials]))


def epochs_to_reach(best: Sequence[float], cum_epochs: Sequence[float], target: float) -> float:
    """Trial-epochs spent when ``best`` first reaches ``target`` (inf: never)."""
    for b, e in zip(best, cum_epochs):
        if b >= target:
            return e
    return math.inf


def best_at_budget(cum_epochs: Sequence[float], best: Sequence[float], budget: float) -> float:
    """Best F1 among the trials finished within ``budget`` trial-epochs (-inf: none)."""
    done = [b for b, e in zip(best, cum_epochs) if e <= budget]
    return done[-1] if done else -math.inf


def mutation_kind(mutation: str) -> str:
    """``"insert_rnn(h3->[h8]->begin)"`` -> ``"insert_rnn"``.

    A feature toggle says which way it went: ``"feature_aligned(+aligned@passage)"``
    -> ``"feature_aligned+"`` (added), ``"...(-aligned@passage)"`` -> ``"feature_aligned-"``.
    """
    name, _, detail = mutation.partition("(")
    name = name.strip() or "?"
    if name.startswith("feature_") and detail[:1] in "+-" and detail:
        return name + detail[0]
    return name


def is_growing(kind: str) -> bool:
    """Mutations that add a layer, an edge, units or an input feature (the ones a morphism makes exact)."""
    return kind.startswith(("insert_", "add_", "widen_")) or (kind.startswith("feature_") and kind.endswith("+"))


def child_starts(trials: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Each warm child's F1 before training against its parent's final F1."""
    final = {t["indiv_id"]: val_f1(t) for t in trials}
    out = []
    for t in trials:
        if t["parent_id"] is None or not t.get("warm_start"):
            continue
        initial, parent = val_f1(t, initial=True), final.get(t["parent_id"])
        if initial is None or parent is None:
            continue
        out.append({"indiv_id": t["indiv_id"], "parent_id": t["parent_id"], "kind": mutation_kind(t["mutation"]),
                    "initial_f1": initial, "parent_f1": parent, "gap": parent - initial,
                    "final_f1": val_f1(t)})
    return out


def _start_stats(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    return {
        "n": len(rows),
        "mean_initial_f1": statistics.mean(r["initial_f1"] for r in rows),
        "mean_parent_f1": statistics.mean(r["parent_f1"] for r in rows),
        "median_gap": statistics.median(r["gap"] for r in rows),
        "within_half_f1": sum(r["gap"] <= NEAR_PARENT_F1 for r in rows) / len(rows),
    }


def starts_by_kind(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per mutation kind, plus ``all`` and ``growing``: count, means, median gap, share within 0.5 F1."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        groups.setdefault(r["kind"], []).append(r)
    out = {kind: _start_stats(g) for kind, g in sorted(groups.items())}
    if rows:
        out["all"] = _start_stats(rows)
    growing = [r for r in rows if is_growing(r["kind"])]
    if growing:
        out["growing"] = _start_stats(growing)
    return out


def compute_to_target(sharing: Sequence[Mapping[str, Any]],
                      cold: Mapping[int, Sequence[Mapping[str, Any]]]) -> dict[str, Any]:
    """Trial-epochs each no-sharing search needed to reach the sharing search's final best.

    ``multiple`` = that / the trial-epochs the sharing search needed to first
    reach its own final best (inf: not reached within the cold search's budget).
    """
    s_cum, s_best = curve(sharing)
    target = s_best[-1]
    s_need = epochs_to_reach(s_best, s_cum, target)
    per: dict[str, Any] = {}
    for epochs, trials in sorted(cold.items()):
        c_cum, c_best = curve(trials)
        need = epochs_to_reach(c_best, c_cum, target)
        per[str(epochs)] = {"epochs_to_target": need, "multiple": need / s_need, "trials_run": len(trials),
                            "epochs_spent": c_cum[-1] if c_cum else 0.0,
                            "best": c_best[-1] if c_best else -math.inf}
    return {"target": target, "sharing_epochs_to_best": s_need, "sharing_epochs": s_cum[-1],
            "cold": per, "min_multiple": min((p["multiple"] for p in per.values()), default=math.inf)}


def compare_replay(sharing: Sequence[Mapping[str, Any]], cold: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The previous headline: sharing's trial-epochs to reach the cold replay's final best / the cold search's.

    ``ratio`` divides by the cold search's whole budget, ``ratio_strict`` by
    the trial-epochs it needed to first reach its own best. Both saturate: the
    first ``population`` trials are the same cold starts in both searches.
    """
    s_cum, s_best = curve(sharing)
    c_cum, c_best = curve(cold)
    target = c_best[-1]
    s_need = epochs_to_reach(s_best, s_cum, target)
    c_need = epochs_to_reach(c_best, c_cum, target)
    return {"cold_final_best": target, "sharing_epochs_to_cold_best": s_need, "cold_epochs_to_cold_best": c_need,
            "ratio": s_need / c_cum[-1], "ratio_strict": s_need / c_need}


def fmt(v: float | None, spec: str = ".2f", missing: str = "not reached") -> str:
    return missing if v is None or not math.isfinite(v) else format(v, spec)


def finite_or_none(v: float) -> float | None:
    """JSON has no infinity: "not reached" is written as null."""
    return v if math.isfinite(v) else None

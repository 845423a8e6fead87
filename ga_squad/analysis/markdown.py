"""Render a search's analyses as Markdown tables and the leaderboard as CSV.

Text only: every renderer takes the records the analysis modules computed
(:mod:`~ga_squad.analysis.leaderboard`, :mod:`~ga_squad.analysis.lineage`,
:mod:`~ga_squad.analysis.warm_cold`), so the report's ``summary.md``, the
notebook, ``python -m ga_squad report`` and ``python -m ga_squad run`` all
print the same tables. The leaderboard is padded into aligned columns so it
reads as well in a terminal as rendered.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ga_squad.analysis.leaderboard import LeaderboardRow, leaderboard
from ga_squad.analysis.lineage import LineageEdge
from ga_squad.analysis.search_dir import Search, record_f1, result_number
from ga_squad.analysis.warm_cold import PairedChild, WarmColdComparison

__all__ = [
    "NO_RESULT",
    "describe_layers",
    "leaderboard_markdown",
    "lineage_markdown",
    "nni_markdown",
    "overview_markdown",
    "paired_markdown",
    "summary_markdown",
    "warm_cold_markdown",
    "write_leaderboard_csv",
]

NO_RESULT = "No trial has reported yet."
F1_KEYS = ("default", "val_f1")  # fitness keys that are the leaderboard's val F1 column
# Short names of hidden layer types in the leaderboard's "hidden layers" column.
LAYER_SHORT = {"rnn": "rnn", "attention": "att", "self_attention": "sa"}
LAYER_LEGEND = ("rnn = bidirectional GRU (rnn:lstm: LSTM), att = attention, sa = self-attention, "
                "bidaf = bidirectional attention flow, pool = question summary; +em/eml/ems/flags/tf/align: "
                "input features; begin/end:kind: pointer heads other than linear")


def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def _aligned_table(head: Sequence[str], body: Sequence[Sequence[str]], right: Sequence[bool]) -> list[str]:
    """A Markdown table padded to aligned columns (numbers right-aligned)."""
    widths = [max(len(h), *(len(row[k]) for row in body)) for k, h in enumerate(head)]

    def line(cells: Sequence[str]) -> str:
        return "| " + " | ".join(c.rjust(w) if r else c.ljust(w) for c, w, r in zip(cells, widths, right)) + " |"

    rule = "|" + "|".join(("-" * (w + 1) + ":") if r else ("-" * (w + 2)) for w, r in zip(widths, right)) + "|"
    return [line(head), rule, *(line(row) for row in body)]


def describe_layers(row: LeaderboardRow) -> str:
    """Hidden layers from the inputs, skips, input features and pointer kinds.

    E.g. ``3: rnn>att>sa, 2 skips`` or ``3: rnn:lstm>bidaf>rnn; +align+em; end:conditioned``
    (no ``|``: the text sits in a Markdown table cell).
    """
    text = str(row.hidden_layers)
    if row.layer_order:
        text += ": " + ">".join(LAYER_SHORT.get(t, t) for t in row.layer_order)
    if row.skips:
        text += f", {row.skips} skip{'s' if row.skips != 1 else ''}"
    if row.features:
        text += "; +" + "+".join(row.features)
    if row.pointers:
        text += "; " + " ".join(row.pointers)
    return text


def leaderboard_markdown(rows: Sequence[LeaderboardRow], limit: int | None = None) -> str:
    """The leaderboard as an aligned Markdown table, the top ``limit`` rows (all by default).

    The one leaderboard renderer: the report, the notebook and the ``run``
    command's final table all print this. Below the table, when rows were
    left out, ``top N of M`` says so, and a legend names the layer types.
    """
    if not rows:
        return NO_RESULT
    shown = list(rows[:limit])
    nni = any(r.nni_trial for r in shown)
    key, mode = shown[0].fitness_key, shown[0].fitness_mode
    own = key not in F1_KEYS  # a fitness that is not the val F1 column gets its own column
    head = (["rank", "id", "parent"] + ([key.replace("_", " ")] if own else [])
            + ["val F1", "val EM", "dev F1", "dev EM", "hidden layers", "inherited", "fresh", "inherited %",
               "epochs", "train s", "mutation"] + (["NNI trial"] if nni else []))
    right = [True] * (7 + own) + [False] + [True] * 5 + [False] + ([False] if nni else [])
    body = [[str(r.rank), str(r.indiv_id), "-" if r.parent_id is None else str(r.parent_id)]
            + ([_fmt(r.fitness_value, ".4f")] if own else [])
            + [_fmt(r.f1), _fmt(r.em), _fmt(r.dev_f1), _fmt(r.dev_em), describe_layers(r), f"{r.inherited_params:,}",
               f"{r.fresh_params:,}", _fmt(100 * r.inherited_fraction, ".0f"), "-" if r.epochs is None else str(r.epochs),
               _fmt(r.train_seconds, ".1f"), r.mutation.replace("|", "/")] + ([r.nni_trial or "-"] if nni else [])
            for r in shown]
    lines = _aligned_table(head, body, right)
    top = f"top {len(shown)} of {len(rows)}; " if len(shown) < len(rows) else ""
    ranked = "validation F1" if key in F1_KEYS else key.replace("_", " ")
    lines += ["", f"{top}ranked by {ranked}, {'higher' if mode == 'maximize' else 'lower'} is better (the search's "
                  f"fitness: `{key}`, {mode}); dev F1/EM: the official dev set, scored once and never selected on; "
                  f"hidden layers in order from the inputs ({LAYER_LEGEND})"]
    return "\n".join(lines)


def overview_markdown(search: Search) -> str:
    """Where the search is, how many individuals in which state, and the best one."""
    statuses: dict[str, int] = {}
    for rec in search.records.values():
        statuses[rec.status.value] = statuses.get(rec.status.value, 0) + 1
    text = (f"Search `{search.experiment_id}` in `{search.root}`: {len(search.records)} individuals ("
            + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + ").")
    record = search.best()
    rows = {r.indiv_id: r for r in leaderboard(search)} if record is not None else {}
    if record is not None:
        best = rows[record.indiv_id]
        text += (f"\n\n**Best** (by the search's fitness, `{search.fitness.key}` {search.fitness.mode.value}d: "
                 f"{_fmt(best.fitness_value, '.4f')}): individual {best.indiv_id}, validation F1 {best.f1:.2f} "
                 f"(EM {_fmt(best.em)}), dev F1 {_fmt(best.dev_f1)} (EM {_fmt(best.dev_em)}), "
                 f"{best.hidden_layers} hidden layers.")
    return text


def nni_markdown(search: Search) -> str:
    """NNI's trial records next to the journal's results."""
    lines = ["| NNI trial | status | individual | F1 (NNI) | F1 (journal) |", "|---|---|---|---|---|"]
    for indiv_id, trial in sorted(search.nni.items()):
        rec = search.records.get(indiv_id)
        journal = record_f1(rec) if rec is not None and rec.value is not None else None
        lines.append(f"| {trial.trial_job_id} | {trial.status} | {indiv_id} "
                     f"| {_fmt(result_number(trial.metrics, 'f1'))} | {_fmt(journal)} |")
    return "\n".join(lines)


def lineage_markdown(edges: Sequence[LineageEdge]) -> str:
    """Parent -> child edges as a Markdown table."""
    lines = ["| parent | child | inherited % | warm | mutation |", "|---|---|---|---|---|"]
    for e in edges:
        frac = "-" if e.inherited_fraction is None else f"{100 * e.inherited_fraction:.0f}"
        lines.append(f"| {e.parent_id} | {e.child_id} | {frac} | {'yes' if e.warm_start else 'no'} "
                     f"| {e.mutation.replace('|', '/')} |")
    return "\n".join(lines)


def warm_cold_markdown(comparison: WarmColdComparison) -> str:
    """The warm vs cold comparison as Markdown tables (per epochs, then child vs parent)."""
    lines = ["| epochs | warm n | warm F1 | warm F1 before training | cold n | cold F1 | cold F1 before training |",
             "|---|---|---|---|---|---|---|"]
    for g in comparison.groups:
        lines.append(f"| {g.epochs} | {len(g.warm_ids)} | {_fmt(g.warm_f1)} | {_fmt(g.warm_initial_f1)} "
                     f"| {len(g.cold_ids)} | {_fmt(g.cold_f1)} | {_fmt(g.cold_initial_f1)} |")
    if comparison.pairs:
        lines += ["", "| warm child | parent | child F1 | parent F1 |", "|---|---|---|---|"]
        lines += [f"| {c} | {p} | {cf:.2f} | {pf:.2f} |" for c, p, cf, pf in comparison.pairs]
    return "\n".join(lines)


def paired_markdown(pairs: Sequence[PairedChild]) -> str:
    """Paired warm/cold children as a Markdown table, with the mean difference."""
    if not pairs:
        return "No child was trained both warm and cold (same graph, parent and epochs)."
    lines = ["| child | parent | epochs | warm F1 | cold F1 | warm - cold | warm F1 before training "
             "| cold F1 before training |", "|---|---|---|---|---|---|---|---|"]
    for p in pairs:
        lines.append(f"| {p.indiv_id} | {p.parent_id} | {p.epochs} | {p.warm_f1:.2f} | {p.cold_f1:.2f} "
                     f"| {p.warm_f1 - p.cold_f1:+.2f} | {_fmt(p.warm_initial_f1)} | {_fmt(p.cold_initial_f1)} |")
    mean = sum(p.warm_f1 - p.cold_f1 for p in pairs) / len(pairs)
    wins = sum(p.warm_f1 > p.cold_f1 for p in pairs)
    lines += ["", f"Mean warm - cold: {mean:+.2f} F1 over {len(pairs)} children; warm better in {wins}."]
    return "\n".join(lines)


def write_leaderboard_csv(rows: Sequence[LeaderboardRow], path: str | os.PathLike[str]) -> Path:
    """The leaderboard as CSV, one column per :class:`LeaderboardRow` field (mappings as JSON)."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        names = [fl.name for fl in dataclasses.fields(LeaderboardRow)]
        writer.writerow(names)
        for r in rows:
            d = r.to_dict()
            d["layer_types"] = json.dumps(d["layer_types"], sort_keys=True)
            d["layer_order"] = json.dumps(d["layer_order"])
            writer.writerow(["" if d[n] is None else d[n] for n in names])
    return path


def summary_markdown(search: Search, rows: Sequence[LeaderboardRow], comparison: WarmColdComparison,
                     edges: Sequence[LineageEdge], reevaluation: Any, reeval_note: str,
                     figures: Mapping[str, str], pairs: Sequence[PairedChild] | None = None,
                     cold: Search | None = None, baseline: str | None = None) -> str:
    """The report's ``summary.md``: overview, leaderboard, baseline, figures, tables, re-evaluation.

    Args:
        reevaluation: A :class:`ga_squad.analysis.reevaluate.Reevaluation` or
            None (typed loosely: that module imports TensorFlow).
        reeval_note: Why there is no re-evaluation, or why it failed.
        figures: Figure key -> file name, relative to the summary.
        pairs, cold: The paired comparison against a no-sharing replay, if any.
        baseline: The equal-compute baseline (B, the best preset, by name) against the best
            (:func:`ga_squad.analysis.equal_compute.baseline_comparison`), or why there is none.
    """
    out = [f"# Search report: {search.experiment_id}", "", overview_markdown(search), ""]
    out += ["## Leaderboard", "", leaderboard_markdown(rows), ""]
    if baseline:
        out += ["## Equal-compute baseline", "", baseline.replace("\n", "\n\n"), ""]
    titles = {"curve": "Validation F1 over trials", "lineage": "Lineage (colour: validation F1)",
              "architecture": "Best architecture", "warm_cold": "Warm vs cold starts (validation F1)",
              "paired": "The same children warm and cold (validation F1)"}
    for key, name in figures.items():
        out += [f"## {titles.get(key, key)}", "", f"![{titles.get(key, key)}]({name})", ""]
    if edges:
        out += ["## Lineage edges", "", lineage_markdown(edges), ""]
    if search.nni:
        out += ["## NNI trials (joined on the final metric's indiv_id)", "", nni_markdown(search), ""]
    out += ["## Warm vs cold starts (same number of epochs)", "", warm_cold_markdown(comparison)]
    if pairs is not None and cold is not None:
        out += ["", f"### The same children trained cold (no-sharing replay `{cold.experiment_id}`)", "",
                paired_markdown(pairs)]
    out += ["", "## Best checkpoint re-evaluated", ""]
    if reevaluation is None:
        out.append(reeval_note or "Not re-evaluated.")
    else:
        out.append(reevaluation.to_markdown())
    return "\n".join(out) + "\n"

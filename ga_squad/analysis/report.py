"""Write the report of a finished (or running) search: figures, summary, CSV and JSON.

Orchestration only: the numbers come from :mod:`~ga_squad.analysis.leaderboard`,
:mod:`~ga_squad.analysis.lineage` and :mod:`~ga_squad.analysis.warm_cold` over a
:class:`~ga_squad.analysis.search_dir.Search`, the figures from
:mod:`~ga_squad.analysis.plots`, the text from :mod:`~ga_squad.analysis.markdown`,
and the re-evaluation of the best checkpoint from
:mod:`~ga_squad.analysis.reevaluate` (the only part that loads TensorFlow).
``python -m ga_squad report`` (:mod:`ga_squad.cli.report`) calls :func:`write_report`.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from ga_squad.analysis import plots
from ga_squad.analysis.equal_compute import baseline_comparison
from ga_squad.analysis.leaderboard import f1_by_id, leaderboard, trial_curve
from ga_squad.analysis.lineage import lineage_edges
from ga_squad.analysis.markdown import summary_markdown, write_leaderboard_csv
from ga_squad.analysis.search_dir import Search
from ga_squad.analysis.warm_cold import paired_children, warm_vs_cold
from ga_squad.store.baselines import best_preset

__all__ = ["FIGURES", "LEADERBOARD_CSV", "REPORT_JSON", "SUMMARY_NAME", "write_report"]

logger = logging.getLogger(__name__)

FIGURES = {
    "curve": "f1_over_trials.png",
    "lineage": "lineage.png",
    "architecture": "best_architecture.png",
    "warm_cold": "warm_vs_cold.png",
    "paired": "warm_vs_cold_paired.png",  # only with a no-sharing replay (--cold-experiment)
}
SUMMARY_NAME = "summary.md"
LEADERBOARD_CSV = "leaderboard.csv"
REPORT_JSON = "report.json"


def write_report(
    search: Search,
    out_dir: str | os.PathLike[str],
    *,
    reevaluate: bool = True,
    data_override: Any = None,
    cache_dir: str | None = None,
    samples: int = 5,
    cold: Search | None = None,
) -> dict[str, Path]:
    """Write the figures (PNG), ``summary.md``, ``leaderboard.csv`` and ``report.json``.

    Args:
        search: The search.
        out_dir: Output folder (created).
        reevaluate: Reload the best checkpoint and score it on the dev set
            (imports TensorFlow).
        data_override: A :class:`ga_squad.reader.dataset.DataConfig` for the
            re-evaluation when the checkpoint does not record its own.
        cache_dir: Dataset cache folder for the re-evaluation.
        samples: Predicted vs gold answers to show.
        cold: A no-sharing replay of this search: adds the paired
            warm/cold comparison (:func:`~ga_squad.analysis.warm_cold.paired_children`).

    Returns:
        Name -> written path (``summary``, ``csv``, ``json`` and one per figure).
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = leaderboard(search)
    edges = lineage_edges(search)
    comparison = warm_vs_cold(search)
    written: dict[str, Path] = {}
    figures: dict[str, str] = {}

    def save(key: str, fig: Figure) -> None:
        path = out / FIGURES[key]
        plots.save_figure(fig, path)
        written[key] = path
        figures[key] = path.name

    save("curve", plots.plot_f1_over_trials(trial_curve(search)))
    save("lineage", plots.plot_lineage(search))
    best = search.best()
    if best is not None:
        save("architecture", plots.plot_architecture(best.graph, title=f"individual {best.indiv_id}"))
    save("warm_cold", plots.plot_warm_vs_cold(comparison, f1_by_id(search)))
    pairs = paired_children(search, cold) if cold is not None else None
    if pairs is not None:
        save("paired", plots.plot_paired_children(pairs))

    reevaluation = None
    note = ""
    failed = False
    if best is None:
        note = "No reported individual to re-evaluate."
    elif not reevaluate:
        note = "Re-evaluation skipped (--no-reevaluate)."
    else:
        from ga_squad.analysis import reevaluate as reeval  # why here: loads TensorFlow; --no-reevaluate never does
        from ga_squad.reader.checkpoint import CheckpointError  # why here: loads Keras, as above

        try:
            reevaluation = reeval.reevaluate(search.save_dir(best.indiv_id), data_config=data_override,
                                             cache_dir=cache_dir, samples=samples)
        except reeval.DataConfigMissing as exc:
            note = f"Not re-evaluated: {exc}"
            logger.warning("%s", note)
        except (CheckpointError, OSError) as exc:
            failed = True
            note = f"Re-evaluation failed: {type(exc).__name__}: {exc}"
            logger.error("%s", note)
    records, baseline = baseline_comparison(search)
    written["summary"] = out / SUMMARY_NAME
    written["summary"].write_text(
        summary_markdown(search, rows, comparison, edges, reevaluation, note, figures, pairs, cold, baseline),
        encoding="utf-8")
    written["csv"] = write_leaderboard_csv(rows, out / LEADERBOARD_CSV)
    payload = {
        "experiment_id": search.experiment_id,
        "root": str(search.root),
        "fitness": search.fitness.to_dict(),
        "best": None if best is None else {"indiv_id": best.indiv_id, "fitness_value": best.value,
                                           "save_dir": str(search.save_dir(best.indiv_id))},
        "leaderboard": [r.to_dict() for r in rows],
        "curve": [dataclasses.asdict(p) for p in trial_curve(search)],
        "lineage": [dataclasses.asdict(e) for e in edges],
        "warm_vs_cold": comparison.to_dict(),
        "paired_children": None if pairs is None else [dataclasses.asdict(p) for p in pairs],
        "reevaluation": None if reevaluation is None else reevaluation.to_dict(),
        "reevaluation_note": note,
        "reevaluation_failed": failed or (reevaluation is not None and not reevaluation.matches()),
        "figures": figures,
        "equal_compute_baseline": None if records is None else [r.to_dict() for r in records],
        "equal_compute_best_preset": None if records is None else best_preset(records).preset,
        "equal_compute_note": baseline,
    }
    written["json"] = out / REPORT_JSON
    written["json"].write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
    return written


"""A search against its equal-compute baseline: the search's side of the comparison.

The baseline (every preset trained alone for the search's budget, ``B`` the
best of them by the fitness on validation) is :mod:`ga_squad.store.baselines`'s
record; :func:`comparison_text` words it against a search's best. What only the search knows is added here:
its best individual (:meth:`Search.best`, i.e. :func:`ga_squad.store.best.best_individual`:
what ``predict`` and ``export`` load), that individual's validation and dev
F1, and what the search spent (wall-clock seconds and trial-epochs). ``run``,
``report`` and the notebook all call :func:`baseline_comparison`, so they
say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from ga_squad.analysis.search_dir import Search, record_dev_scores, record_f1, result_number
from ga_squad.store.baselines import BASELINE_FILE, BaselineFileError, PresetBaseline, best_preset, load_baselines
from ga_squad.store.contract import MissingScore

__all__ = ["baseline_comparison", "comparison_text", "search_spent"]


def search_spent(search: Search) -> tuple[float | None, int | None]:
    """``(wall-clock seconds, trial-epochs)`` the search spent on its reported individuals.

    Seconds run from the first individual generated to the last result, per
    session (a resumed search does not count the time it was stopped);
    trial-epochs are the epochs its trials report having trained. None where
    the journal does not tell.
    """
    spans: dict[int, tuple[float, float]] = {}
    epochs: list[float] = []
    for record in search.reported():
        if record.generated_at is not None and record.reported_at is not None:
            lo, hi = spans.get(record.session, (record.generated_at, record.reported_at))
            spans[record.session] = (min(lo, record.generated_at), max(hi, record.reported_at))
        trained = result_number(record.result, "epochs")
        if trained is not None:
            epochs.append(trained)
    seconds = sum(hi - lo for lo, hi in spans.values()) if spans else None
    return seconds, int(sum(epochs)) if epochs else None


def baseline_comparison(search: Search, records: Sequence[PresetBaseline] | None = None,
                        ) -> tuple[tuple[PresetBaseline, ...] | None, str]:
    """The equal-compute baseline of ``search`` and the text that sets B beside its best.

    Args:
        search: The search.
        records: The baseline's records (default: the search folder's
            :data:`~ga_squad.reader.baseline.BASELINE_FILE`).

    Returns:
        ``(records, text)``; records None with a text saying why there is
        no comparison (none stored, or the file is unusable: named).
    """
    if records is None:
        try:
            records = load_baselines(search.root)
        except BaselineFileError as exc:
            return None, f"Equal-compute baseline unreadable: {exc}"
        if records is None:
            return None, (f"No `{BASELINE_FILE}` in {search.root}: no equal-compute baseline stored; "
                          f"`python -m ga_squad run` computes it after a finished search.")
    records = tuple(records)
    best = search.best()
    if best is None:
        return records, comparison_text(records)
    try:
        val_f1 = record_f1(best)
    except MissingScore:
        return records, comparison_text(records)
    seconds, epochs = search_spent(search)
    return records, comparison_text(records, val_f1, record_dev_scores(best)[0], best_id=best.indiv_id,
                                    search_seconds=seconds, search_epochs=epochs)


def _f1(value: float | None) -> str:
    return "not scored" if value is None else f"{value:.2f}"


def comparison_text(
    records: Sequence[PresetBaseline],
    best_val_f1: float | None = None,
    best_dev_f1: float | None = None,
    *,
    best_id: int | None = None,
    search_seconds: float | None = None,
    search_epochs: int | None = None,
) -> str:
    """B by name against the search's best: figures, the gaps on validation and dev, the verdict.

    Args:
        records: The presets trained (:func:`load_baselines`).
        best_val_f1: The search's best individual's validation F1 (None: only B is described).
        best_dev_f1: Its dev F1.
        best_id: Its id.
        search_seconds: The search's wall-clock seconds.
        search_epochs: The trial-epochs the search trained.

    Returns:
        Two or three lines. The search "beat the best preset" only when it is
        ahead on validation and on dev F1 (on validation alone when dev is unknown).
    """
    b = best_preset(records)
    lines = [f"equal-compute baseline B = {b.preset}: the best by {b.fitness.describe()} on validation of "
             f"{len(records)} presets ({', '.join(r.preset for r in records)}), each trained alone from scratch for "
             f"{b.budget} trial-epochs: validation F1 {b.kept_val_f1:.2f}, dev F1 {_f1(b.dev_f1)} (epoch "
             f"{b.kept_epoch} kept), {b.seconds:.0f} s ({b.train_examples:,} training examples x {b.params:,} "
             f"parameters)."]
    others = [r for r in records if r is not b]
    if others:
        lines.append("other presets: " + "; ".join(
            f"{r.preset} validation F1 {r.kept_val_f1:.2f}, dev F1 {_f1(r.dev_f1)}, {r.seconds:.0f} s" for r in others)
            + f" (training all {len(records)} took {sum(r.seconds for r in records):.0f} s).")
    if best_val_f1 is None:
        return "\n".join(lines)
    who = "search best" if best_id is None else f"search best (individual {best_id})"
    spent = "".join([f", {search_seconds:.0f} s" if search_seconds is not None else "",
                     f", {search_epochs} trial-epochs" if search_epochs is not None else ""])
    val_gap = best_val_f1 - b.kept_val_f1
    dev_gap = None if best_dev_f1 is None or b.dev_f1 is None else best_dev_f1 - b.dev_f1
    gaps = f"{val_gap:+.2f} validation F1" + ("" if dev_gap is None else f", {dev_gap:+.2f} dev F1")
    lines.append(f"{who}: validation F1 {best_val_f1:.2f}, dev F1 {_f1(best_dev_f1)}{spent}; against B: {gaps}: "
                 f"{_verdict(val_gap, dev_gap, b.preset)}.")
    return "\n".join(lines)


def _verdict(val_gap: float, dev_gap: float | None, name: str) -> str:
    if dev_gap is None:
        return ("the search beat the best preset on validation F1 (dev F1 unknown)" if val_gap > 0 else
                f"the search did not beat the best preset: {name} trained alone scores higher on validation")
    if val_gap > 0 and dev_gap > 0:
        return "the search beat the best preset"
    if val_gap <= 0 and dev_gap <= 0:
        return f"the search did not beat the best preset: {name} trained alone gives a better reader"
    ahead, behind = ("validation", "dev") if val_gap > 0 else ("dev", "validation")
    return f"the search did not beat the best preset: ahead on {ahead} F1 but not on {behind} F1"

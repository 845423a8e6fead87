"""A search against its equal-compute baseline: the search's side of the comparison.

The baseline (every preset trained alone for the search's budget, ``B`` the
best of them by the fitness on validation) and its wording live in
:mod:`ga_squad.reader.baseline`. What only the search knows is added here:
its best individual (:meth:`Search.best`, i.e. :func:`ga_squad.search.best.best_individual`:
what ``predict`` and ``export`` load), that individual's validation and dev
F1, and what the search spent (wall-clock seconds and trial-epochs). ``run``,
``report`` and the notebook all call :func:`baseline_comparison`, so they
say the same thing.
"""

from __future__ import annotations

from collections.abc import Sequence

from ga_squad.analysis.search_dir import Search, record_dev_scores, record_f1, result_number
from ga_squad.reader.baseline import (
    BASELINE_FILE,
    BaselineFileError,
    PresetBaseline,
    comparison_text,
    load_baselines,
)
from ga_squad.search.contract import MissingScore

__all__ = ["baseline_comparison", "search_spent"]


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

"""Read a score out of a trial result, whichever generation of result keys it uses.

Trial results (the dict :func:`ga_squad.reader.training.run_trial` returns,
its per-epoch metrics, and :class:`ga_squad.sim.local_search.TrialSummary`
dicts) used to carry one split: ``f1``, ``em``, ``initial_f1`` were dev
scores, and the search selected on them. With a validation split, results
carry ``val_f1``/``val_em`` (what the search selects on, also ``default``)
and ``dev_f1``/``dev_em`` (held out, only for reporting), and
``initial_val_f1``... before training. Code that reads results goes through
:func:`score` so it works on both, old journals included.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["SPLITS", "score"]

SPLITS = ("val", "dev")


def score(record: Mapping[str, Any], metric: str = "f1", *, split: str = "val",
          initial: bool = False) -> float | None:
    """One score of a result, or None if the record has none (e.g. a failed trial).

    Args:
        record: A trial result, per-epoch metrics or trial summary dict.
        metric: ``"f1"``, ``"em"`` or ``"loss"``-like base name.
        split: ``"val"``: the score the search selects on; ``"dev"``: the
            held-out score. Records of one split answer both with their only
            score (``f1``), which was the dev score and the selection score.
        initial: The score before training (``initial_...``).

    Returns:
        The value as a float, or None when absent, null or NaN.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    prefix = "initial_" if initial else ""
    for key in (f"{prefix}{split}_{metric}", f"{prefix}{metric}"):
        value = record.get(key)
        if value is not None:
            value = float(value)
            return None if math.isnan(value) else value
    return None

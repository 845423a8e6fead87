"""NNI's own trial records, mapped to the search's individuals.

NNI 3.0 may swap the ``hyperParameters`` records of trials started together,
so an NNI trial is mapped to its individual through the ``indiv_id`` of its
final metric, never through NNI's parameter record. The records come from a
running NNI manager (:func:`ga_squad.launch.rest.fetch_nni_trials`, the
project's one REST client); parsing lives here, below ``launch``, so a
notebook or a test can feed records it already has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ga_squad.store.contract import result_indiv_id

__all__ = ["NniTrial", "parse_nni_trials"]


@dataclass(frozen=True)
class NniTrial:
    """An NNI trial job mapped to its individual through its final metric.

    Attributes:
        trial_job_id: NNI's trial id.
        indiv_id: The individual its final metric names.
        status: NNI's trial status (SUCCEEDED, FAILED, ...).
        start_time, end_time: NNI's times (ms since the epoch), or None.
        metrics: The final metric dict as NNI recorded it.
    """

    trial_job_id: str
    indiv_id: int
    status: str
    start_time: float | None
    end_time: float | None
    metrics: Mapping[str, Any]


def _decode_metric(data: Any) -> Any:
    """NNI stores a final metric as JSON text of JSON text; unwrap to the value."""
    for _ in range(3):
        if not isinstance(data, str):
            break
        try:
            data = json.loads(data)
        except ValueError:
            break
    return data


def parse_nni_trials(trial_jobs: Iterable[Mapping[str, Any]],
                     metric_data: Iterable[Mapping[str, Any]] = ()) -> dict[int, NniTrial]:
    """Join NNI's ``trial-jobs`` and ``metric-data`` records on the final metric's ``indiv_id``.

    Trials without a final metric naming an individual are skipped (they
    cannot be mapped safely: NNI's parameter record may belong to another
    trial).

    Returns:
        indiv_id -> trial (the last trial reporting that individual wins).
    """
    finals: dict[str, Any] = {}
    for record in metric_data:
        if record.get("type") == "FINAL" and record.get("trialJobId"):
            finals[str(record["trialJobId"])] = _decode_metric(record.get("data"))
    out: dict[int, NniTrial] = {}
    for trial in trial_jobs:
        trial_id = str(trial.get("trialJobId") or trial.get("id") or "")
        value = finals.get(trial_id)
        if value is None:
            for metric in trial.get("finalMetricData") or []:
                value = _decode_metric(metric.get("data"))
        indiv_id = result_indiv_id(value)
        if indiv_id is None:
            continue
        out[indiv_id] = NniTrial(
            trial_id, indiv_id, str(trial.get("status", "")),
            trial.get("startTime"), trial.get("endTime"), dict(value))
    return out

"""NNI's own trial records, mapped to the search's individuals.

NNI 3.0 may swap the ``hyperParameters`` records of trials started together,
so an NNI trial is mapped to its individual through the ``indiv_id`` of its
final metric, never through NNI's parameter record. The records come from a
running NNI manager through the project's one REST client
(:class:`ga_squad.launch.rest.NniRestClient`); parsing is separate so a
notebook or a test can feed records it already has.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from ga_squad.launch.rest import NniRestClient
from ga_squad.search.contract import result_indiv_id

__all__ = ["NniTrial", "fetch_nni_trials", "parse_nni_trials"]


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


def fetch_nni_trials(port: int, experiment_id: str | None = None, host: str = "127.0.0.1",
                     timeout: float = 10.0) -> dict[int, NniTrial]:
    """Pull trial records from a running NNI manager's REST API (``/api/v1/nni``).

    Args:
        port: The NNI manager's port.
        experiment_id: If given, the manager must be running this experiment.
        host: The manager's host.
        timeout: Seconds per request.

    Raises:
        ConnectionError: if NNI does not answer (:class:`~ga_squad.launch.rest.NniRestError`),
            or runs another experiment.
    """
    client = NniRestClient(port=port, host=host, timeout=timeout)
    if experiment_id is not None:
        running = client.get("experiment")  # any non-mapping answer reads as "another experiment"
        found = running.get("id") if isinstance(running, Mapping) else None
        if found != experiment_id:
            raise ConnectionError(f"the NNI manager on port {port} runs experiment {found!r}, not {experiment_id!r}")
    return parse_nni_trials(client.trial_jobs(), client.metric_data())

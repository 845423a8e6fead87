"""The one client of NNI's REST API (``http://HOST:PORT/api/v1/nni/...``).

The launcher polls it while an experiment runs and the report joins NNI's
trial records from it; both go through :class:`NniRestClient`, so timeouts,
error wording and JSON decoding live here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from collections.abc import Mapping
from typing import Any

import requests

from ga_squad.analysis.nni_trials import NniTrial, parse_nni_trials

__all__ = ["NniRestClient", "NniRestError", "fetch_nni_trials"]


class NniRestError(ConnectionError):
    """NNI's manager did not answer, answered an HTTP error, or sent no JSON."""


@dataclass(frozen=True)
class NniRestClient:
    """GET-only access to one NNI manager.

    Args:
        port: The manager's port (``nnictl create --port``).
        host: The manager's host (NNI binds it on all interfaces).
        timeout: Seconds per request.
    """

    port: int
    host: str = "127.0.0.1"
    timeout: float = 10.0

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}/api/v1/nni"

    def get(self, route: str, timeout: float | None = None) -> Any:
        """The decoded JSON of ``GET <base>/<route>``.

        Raises:
            NniRestError: on a connection failure, an HTTP error status or a body that is not JSON.
        """
        url = f"{self.base_url}/{route.lstrip('/')}"
        try:
            response = requests.get(url, timeout=self.timeout if timeout is None else timeout)
            response.raise_for_status()
            return response.json()
        except (requests.RequestException, ValueError) as exc:
            raise NniRestError(f"GET {url} failed: {exc}") from exc

    # --- the routes ga-squad reads -------------------------------------------------
    def experiment(self) -> dict[str, Any]:
        """The running experiment's profile (``id``, ``params``, ...)."""
        return dict(self.get("experiment"))

    def check_status(self) -> dict[str, Any]:
        """``status`` (RUNNING, DONE, ERROR, ...) and ``errors``."""
        return dict(self.get("check-status"))

    def trial_jobs(self) -> list[dict[str, Any]]:
        """NNI's trial records: id, status, startTime, endTime, hyperParameters, finalMetricData."""
        return list(self.get("trial-jobs"))

    def metric_data(self) -> list[dict[str, Any]]:
        """Every metric record: trialJobId, parameterId, type, timestamp, data."""
        return list(self.get("metric-data"))


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

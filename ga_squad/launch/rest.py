"""The one client of NNI's REST API (``http://HOST:PORT/api/v1/nni/...``).

The launcher polls it while an experiment runs and the report joins NNI's
trial records from it; both go through :class:`NniRestClient`, so timeouts,
error wording and JSON decoding live here only.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

__all__ = ["NniRestClient", "NniRestError"]


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

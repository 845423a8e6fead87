"""NNI's tuner protocol over a :class:`~ga_squad.store.engine.SearchEngine`, without importing NNI.

NNI's dispatcher calls five tuner methods (``generate_multiple_parameters``,
``generate_parameters``, ``receive_trial_result``, ``trial_end``,
``import_data``). Their translation into engine calls lives here, once, so
that the NNI tuner (``tuner/ga_tuner.py``: this class plus ``nni.tuner.Tuner``)
and every in-process user (the simulated dispatcher, the local search, the
benchmarks) run the very same code, and the search package stays free of NNI.

Requests that cannot be served yet are never waited for (blocking NNI's
single command thread deadlocks the experiment); they are emitted later with
NNI's ``st_callback``, which is called *after* the engine released its lock:
the callback blocks on a websocket send, the engine has already recorded the
individual as dispatched (so its result cannot race ahead of its state), and
each NewTrialJob stands alone, so order between NNI's two threads does not
matter.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Callable
from typing import Any

from ga_squad.store.engine import EngineStats, Ready, SearchEngine, StrategyFactory
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.journal import Journal
from ga_squad.store.lock import ExperimentLock
from ga_squad.store.paths import SearchLayout
from ga_squad.store.retention import RetentionConfig

_logger = logging.getLogger(__name__)

__all__ = ["EngineProtocol", "NoTrialReady", "SendTrial", "open_engine"]

SendTrial = Callable[[int, Any], None]
"""NNI's ``st_callback``: hand one (parameter id, parameters) to the manager."""


def open_engine(
    config: EvolutionConfig,
    layout: SearchLayout,
    *,
    fsync: bool = True,
    strategy: StrategyFactory | None = None,
    retention: RetentionConfig | None = None,
) -> SearchEngine:
    """The engine of one tuner process: experiment lock first, then journal and engine.

    The lock is taken before the journal is read, so two tuners can never
    both rebuild from (and then append to) one journal; the engine releases
    it on ``close()``, the kernel when the process dies. Holding it, the
    engine sweeps the search's folders of leftovers of killed writers at its
    first request (after NNI's connect deadline, which the constructor counts
    against) and at close (:mod:`ga_squad.store.leftovers`).

    Raises:
        ExperimentLocked: if another live tuner holds the search folder.
    """
    lock = ExperimentLock(layout.root).acquire()
    try:
        journal = Journal(layout.journal_path, fsync=fsync)
        return SearchEngine(config, layout, journal, strategy=strategy, retention=retention, lock=lock)
    except BaseException:
        lock.release()
        raise


class NoTrialReady(LookupError):
    """``generate_parameters`` outside NNI: no parent has reported yet (NNI's adapter raises ``NoMoreTrialError``)."""


class EngineProtocol:
    """The tuner side of NNI's dispatcher protocol, delegating every decision to ``engine``.

    Args:
        engine: The search engine (with its journal and proposal strategy).
        no_trial_error: Exception raised by :meth:`generate_parameters` when
            nothing can be served now (NNI: ``nni.NoMoreTrialError``).
    """

    def __init__(self, engine: SearchEngine, no_trial_error: type[Exception] = NoTrialReady) -> None:
        self.engine = engine
        self._no_trial_error = no_trial_error
        self._send: SendTrial | None = None
        self._incoming: Counter[str] = Counter()  # trial job ids whose result is being delivered now
        self._incoming_lock = threading.Lock()

    @classmethod
    def for_search(
        cls,
        config: EvolutionConfig,
        layout: SearchLayout,
        *,
        fsync: bool = True,
        strategy: StrategyFactory | None = None,
        retention: RetentionConfig | None = None,
    ) -> EngineProtocol:
        """An in-process tuner: engine + lineage journal in ``layout`` (what NNI's adapter builds, minus NNI).

        Args:
            config: Evolution settings.
            layout: The search folder.
            fsync: fsync the journal (off only for simulations and benchmarks).
            strategy: Proposal strategy factory (default: regularized evolution).
            retention: Which checkpoints to keep (default: all).

        Raises:
            ExperimentLocked: if another live tuner holds the search folder.
        """
        return cls(open_engine(config, layout, fsync=fsync, strategy=strategy, retention=retention))

    def update_search_space(self, search_space: Any) -> None:
        """Ignored: the search space is the graph space of :mod:`ga_squad.search.mutations`."""
        if search_space:
            _logger.info("search space ignored (the space is the reader graph): %s", search_space)

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[dict[str, Any]]:
        """Parameters for a prefix of ``parameter_id_list``; the rest are emitted later.

        The ids not served now are remembered and sent through
        ``kwargs["st_callback"]`` once a result makes them servable. Without a
        callback (an old dispatcher) they are dropped rather than promised.
        """
        send = kwargs.get("st_callback")
        if send is not None:
            self._send = send
        ready = self.engine.request(list(parameter_id_list), defer=self._send is not None)
        return [params for _, params in ready]

    def generate_parameters(self, parameter_id: int, **kwargs: Any) -> dict[str, Any]:
        """One parameter set now, or the no-trial error: this never waits."""
        ready = self.engine.request([parameter_id], defer=False)
        if not ready:
            raise self._no_trial_error("no parent has reported yet")
        return ready[0][1]

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        """A final result; ``trial_job_id`` (NNI passes it) records which trial ran which individual."""
        if kwargs.get("customized"):
            _logger.info("result of customized trial %s ignored", parameter_id)
            return
        job = kwargs.get("trial_job_id")
        self._delivering(job, +1)
        try:
            ready = self.engine.report(parameter_id, value, trial_job_id=job)
        finally:
            self._delivering(job, -1)
        self._emit(ready)

    def _delivering(self, job: str | None, step: int) -> None:
        """Count ``job``'s results being delivered now (a ``trial_end`` on the other thread then waits)."""
        if job is None:
            return
        with self._incoming_lock:
            self._incoming[job] += step
            if self._incoming[job] <= 0:
                del self._incoming[job]

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        """A trial ended; with ``trial_job_id`` the end is attributed by what that trial ran.

        ``result_in_flight`` (the NNI adapter finds this trial's final result
        still queued in the dispatcher), or a result of the same job being
        delivered on the other thread right now, makes the engine wait for
        that result instead of declaring a failure the result would undo.
        """
        job = kwargs.get("trial_job_id")
        with self._incoming_lock:
            delivering = job is not None and job in self._incoming
        in_flight = bool(kwargs.get("result_in_flight")) or delivering
        self._emit(self.engine.end(parameter_id, success, trial_job_id=job, result_in_flight=in_flight))

    def import_data(self, data: list[dict[str, Any]]) -> None:
        """Results NNI replays on resume: accepted if the journal lacks them."""
        for entry in data:
            self._emit(self.engine.import_result(entry.get("parameter") or {}, entry.get("value")))

    def stats(self) -> EngineStats:
        return self.engine.stats()

    def close(self) -> None:
        self.engine.close()

    def _emit(self, ready: list[Ready]) -> None:
        """Hand newly servable trials to the dispatcher (called with no engine lock held)."""
        if not ready:
            return
        if self._send is None:  # cannot happen: deferral requires a callback.
            raise RuntimeError("trials became servable but the dispatcher gave no st_callback")
        for parameter_id, params in ready:
            _logger.info("late dispatch of parameter %d (individual %d)", parameter_id, params["indiv_id"])
            self._send(parameter_id, params)

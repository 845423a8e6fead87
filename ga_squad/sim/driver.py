"""Run a tuner without NNI: the dispatcher's protocol over a pool of workers.

Tests and benchmarks need searches of hundreds of trials in seconds, with
failures, concurrency changes and NNI's threading, and without ``nnictl``.
This module plays NNI's manager and dispatcher against any object with the
NNI tuner methods, calling them exactly as NNI 3.0 does:

* ``generate_multiple_parameters(ids, st_callback=...)``: the i-th returned
  parameter set belongs to ``ids[i]``; ids not served are kept by the tuner
  and may arrive later through ``st_callback(parameter_id, params)``;
* ``receive_trial_result(parameter_id, parameters, value)`` when a trial
  reports its final result, then ``trial_end(parameter_id, success)``;
* one new trial is requested per finished trial (NNI's manager keeps the
  concurrency filled), ``concurrency`` at the start, and the difference when
  the concurrency is changed; nothing is requested once ``max_trials``
  trials were submitted.

Two modes:

* :func:`simulate` -- an event-driven simulated clock (a heap of trial ends):
  the trial function returns how long the trial *would* take and what it
  reports, so 1,000 trials take well under a second. Deterministic.
* :func:`run_sequential` -- one trial slot, real trials, NNI's usual call
  order (request, run, result, end): the journal reads like an uneventful
  experiment.
* :func:`ga_squad.sim.threaded.run_threaded` -- trials really run on ``concurrency`` worker threads
  and durations are measured; tuner calls come from two dispatcher threads
  (results on the "default" one, trial ends on the "assessor" one), as in
  NNI's ``MsgDispatcherBase``. For thread-safety tests and wall-clock
  benchmarks (e.g. weight sharing).
"""

from __future__ import annotations

import heapq
import itertools
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

_logger = logging.getLogger(__name__)

__all__ = [
    "DriverConfig",
    "SimulationResult",
    "TrialFailure",
    "TrialOutcome",
    "TrialRecord",
    "Pending",
    "TunerLike",
    "parents_reported_first",
    "run_sequential",
    "simulate",
]


class TunerLike(Protocol):
    """The part of ``nni.tuner.Tuner`` NNI's dispatcher calls."""

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]: ...

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None: ...

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None: ...


@dataclass(frozen=True)
class TrialOutcome:
    """What a simulated trial does.

    Attributes:
        duration: Seconds it runs (simulated).
        value: Its final result (number or dict with ``default``); None: it
            ends without reporting one.
        succeeded: False for a failed or killed trial (a value, if any, is
            still delivered first: a trial may crash after reporting).
    """

    duration: float
    value: Any = None
    succeeded: bool = True

    def __post_init__(self) -> None:
        if self.duration < 0:
            raise ValueError(f"duration must be >= 0, got {self.duration}")


class TrialFailure(Exception):
    """Raised by a trial function: the trial fails after ``after`` seconds without a result."""

    def __init__(self, after: float = 0.0, message: str = "injected failure") -> None:
        super().__init__(message)
        self.after = after


SimTrialFunction = Callable[[Mapping[str, Any]], "TrialOutcome | tuple[float, Any]"]


@dataclass(frozen=True)
class DriverConfig:
    """How the simulated NNI manager behaves.

    Attributes:
        concurrency: Trials run at once at the start.
        max_trials: Trials submitted in total (NNI's ``maxTrialNumber``).
        concurrency_changes: ``(time, new_concurrency)`` pairs, applied at
            those (simulated) times like ``nnictl update concurrency``.
        end_before_result: Deliver ``trial_end`` before the final result (NNI
            handles them on two threads, so either order happens).
    """

    concurrency: int
    max_trials: int
    concurrency_changes: tuple[tuple[float, int], ...] = ()
    end_before_result: bool = False

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.max_trials < 0:
            raise ValueError("concurrency must be >= 1 and max_trials >= 0")
        if any(c < 1 for _, c in self.concurrency_changes):
            raise ValueError("a changed concurrency must be >= 1")


@dataclass(frozen=True)
class TrialRecord:
    """One trial as the driver saw it (times in driver seconds).

    Attributes:
        parameter_id: NNI's parameter id.
        params: The parameters the tuner produced.
        requested_at: When the manager asked for this parameter id.
        dispatched_at: When the parameters reached the manager (returned, or
            through ``st_callback``).
        started_at: When a worker started it.
        ended_at: When it ended.
        value: Its final result (None if it reported none).
        reported_at: When the result was delivered to the tuner (None if never).
        succeeded: Whether it ended successfully.
    """

    parameter_id: int
    params: Any
    requested_at: float
    dispatched_at: float
    started_at: float
    ended_at: float
    value: Any
    reported_at: float | None
    succeeded: bool

    @property
    def duration(self) -> float:
        return self.ended_at - self.started_at


@dataclass(frozen=True)
class SimulationResult:
    """Outcome of a driven search.

    Attributes:
        records: Finished trials, by start time.
        wall: Time from the start to the last trial's end.
        busy: Worker-seconds spent running trials.
        capacity: Worker-seconds available (concurrency integrated over ``wall``).
        unserved: Parameter ids the tuner was asked for and never produced.
    """

    records: tuple[TrialRecord, ...]
    wall: float
    busy: float
    capacity: float
    unserved: tuple[int, ...] = ()

    @property
    def utilization(self) -> float:
        """Busy worker-seconds / available worker-seconds (1.0 = never idle)."""
        return self.busy / self.capacity if self.capacity > 0 else 0.0

    def by_indiv(self) -> dict[int, TrialRecord]:
        """Records keyed by the contract's ``indiv_id`` (for ga-squad parameters)."""
        return {r.params["indiv_id"]: r for r in self.records
                if isinstance(r.params, Mapping) and "indiv_id" in r.params}


@dataclass
class Pending:
    """A parameter id between request and end (mutable bookkeeping, internal)."""

    parameter_id: int
    requested_at: float
    params: Any = None
    dispatched_at: float | None = None
    started_at: float | None = None
    outcome: TrialOutcome | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _as_outcome(raw: Any) -> TrialOutcome:
    if isinstance(raw, TrialOutcome):
        return raw
    duration, value = raw
    return TrialOutcome(float(duration), value)


def simulate(tuner: TunerLike, trial: SimTrialFunction, config: DriverConfig) -> SimulationResult:
    """Run a search on a simulated clock (see the module docstring).

    Args:
        tuner: The tuner under test.
        trial: ``params -> TrialOutcome`` or ``(duration, value)``; raising
            :class:`TrialFailure` fails the trial after ``after`` seconds,
            any other exception fails it at once.
        config: Manager behaviour.

    Returns:
        Records, utilization figures, and ids the tuner never served.
    """
    now = 0.0
    ids = itertools.count()
    seq = itertools.count()
    pending: dict[int, Pending] = {}
    ready: deque[Pending] = deque()
    ends: list[tuple[float, int, int]] = []  # (time, seq, parameter_id)
    changes = sorted(config.concurrency_changes)
    records: list[TrialRecord] = []
    concurrency = config.concurrency
    change_debt = 0
    submitted = 0
    running = 0
    capacity = 0.0
    last_time = 0.0

    def callback(parameter_id: int, params: Any) -> None:
        item = pending[parameter_id]
        if item.dispatched_at is not None:
            raise AssertionError(f"parameter id {parameter_id} dispatched twice")
        item.params, item.dispatched_at = params, now
        ready.append(item)

    def request(count: int) -> None:
        if count < 1 or submitted >= config.max_trials:
            return
        batch = [next(ids) for _ in range(count)]
        for pid in batch:
            pending[pid] = Pending(pid, now)
        produced = tuner.generate_multiple_parameters(batch, st_callback=callback)
        for pid, params in zip(batch, produced):
            callback(pid, params)

    def start_ready() -> None:
        nonlocal submitted, running
        while ready and running < concurrency and submitted < config.max_trials:
            item = ready.popleft()
            submitted += 1
            running += 1
            item.started_at = now
            try:
                item.outcome = _as_outcome(trial(item.params))
            except TrialFailure as failure:
                item.outcome = TrialOutcome(failure.after, None, succeeded=False)
            except Exception as exc:  # a crashing trial function is a failed trial
                _logger.info("trial %d raised %r: counted as failed", item.parameter_id, exc)
                item.outcome = TrialOutcome(0.0, None, succeeded=False)
            heapq.heappush(ends, (now + item.outcome.duration, next(seq), item.parameter_id))

    def manage(finished: int) -> None:
        # NNI's manageTrials: ask for as many trials as finished, adjusted by
        # concurrency changes (a decrease is paid back from later requests).
        nonlocal change_debt
        wanted = finished + change_debt
        change_debt = min(0, wanted)
        request(wanted)
        start_ready()

    request(concurrency)
    start_ready()
    while ends or (changes and submitted < config.max_trials):
        next_end = ends[0][0] if ends else float("inf")
        if changes and changes[0][0] <= next_end:
            at, new = changes.pop(0)
            capacity += concurrency * (max(at, now) - last_time)
            now = last_time = max(at, now)
            change_debt += new - concurrency  # NNI's trialConcurrencyChange
            concurrency = new
            manage(finished=0)
            continue
        at, _, pid = heapq.heappop(ends)
        capacity += concurrency * (at - last_time)
        now = last_time = at
        item = pending.pop(pid)
        outcome = item.outcome
        assert outcome is not None and item.started_at is not None and item.dispatched_at is not None
        running -= 1
        reported_at = None
        if config.end_before_result:
            tuner.trial_end(pid, outcome.succeeded)
        if outcome.value is not None:
            tuner.receive_trial_result(pid, item.params, outcome.value)
            reported_at = now
        if not config.end_before_result:
            tuner.trial_end(pid, outcome.succeeded)
        records.append(TrialRecord(
            pid, item.params, item.requested_at, item.dispatched_at, item.started_at, now,
            outcome.value, reported_at, outcome.succeeded,
        ))
        manage(finished=1)
    busy = sum(r.duration for r in records)
    unserved = tuple(sorted(pid for pid, item in pending.items() if item.dispatched_at is None))
    records.sort(key=lambda r: (r.started_at, r.parameter_id))
    return SimulationResult(tuple(records), now, busy, capacity, unserved)


def run_sequential(tuner: Any, trial: Callable[[Mapping[str, Any]], Any], max_trials: int,
                    timeout: float) -> None:
    """NNI's manager with one trial slot, in NNI's usual order of calls.

    Request one parameter set, run the trial, deliver its final result, then
    its end (the order NNI normally observes: the metric is sent before the
    trial process exits), and request the next. Unlike
    :func:`ga_squad.sim.threaded.run_threaded`, which delivers ends and results on
    two threads and so often journals ``failed`` then a late ``reported``,
    the journal of a sequential search reads like an uneventful experiment.
    A trial that raises is ended unsuccessfully and the search goes on.
    """
    pending: list[tuple[int, Any]] = []

    def callback(parameter_id: int, params: Any) -> None:
        pending.append((parameter_id, params))

    started = time.perf_counter()
    next_id = 0
    for _ in range(max_trials):
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"local search: still running after {timeout} s")
        produced = tuner.generate_multiple_parameters([next_id], st_callback=callback)
        if produced:
            pending.append((next_id, produced[0]))
        next_id += 1
        if not pending:  # cannot happen with one slot: a finished trial frees it
            raise RuntimeError("the tuner served no trial with no trial running")
        parameter_id, params = pending.pop(0)
        try:
            value = trial(params)
        except Exception as exc:  # a failed trial, as under NNI
            _logger.warning("trial for parameter %d failed: %r", parameter_id, exc)
            tuner.trial_end(parameter_id, False)
            continue
        if value is not None:
            tuner.receive_trial_result(parameter_id, params, value)
        tuner.trial_end(parameter_id, True)


def parents_reported_first(result: SimulationResult) -> list[str]:
    """Violations of "a child is dispatched only after its parent reported" (empty: none).

    For ga-squad parameters (``indiv_id``/``parent_id``). A parent with no
    record at all is a violation too (the child's parent never ran).
    """
    by_indiv = result.by_indiv()
    problems: list[str] = []
    for indiv_id, record in by_indiv.items():
        parent_id = record.params.get("parent_id")
        if parent_id is None:
            continue
        parent = by_indiv.get(parent_id)
        if parent is None or parent.reported_at is None:
            problems.append(f"individual {indiv_id}: parent {parent_id} never reported")
        elif parent.reported_at > record.dispatched_at:
            problems.append(
                f"individual {indiv_id} dispatched at {record.dispatched_at} before parent "
                f"{parent_id} reported at {parent.reported_at}"
            )
    return problems

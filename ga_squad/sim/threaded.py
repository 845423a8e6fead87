"""NNI's dispatcher with real trials on worker threads (for thread-safety tests and wall-clock runs).

Where :func:`ga_squad.sim.driver.simulate` runs a simulated clock, this runs
each trial for real on one of ``concurrency`` worker threads and measures
durations, while tuner calls come from two dispatcher threads (results on the
"default" one, trial ends on the "assessor" one), as in NNI's
``MsgDispatcherBase``: a trial's end can therefore overtake its result.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any

from ga_squad.sim.driver import Pending, SimulationResult, TrialRecord, TunerLike

_logger = logging.getLogger(__name__)

__all__ = ["RealTrialFunction", "run_threaded"]

RealTrialFunction = Callable[[Mapping[str, Any]], Any]
"""``params -> final result`` (None: no result), run for real; an exception fails the trial."""


def run_threaded(
    tuner: TunerLike,
    trial: RealTrialFunction,
    concurrency: int,
    max_trials: int,
    timeout: float = 600.0,
) -> SimulationResult:
    """Run real trials on worker threads, with NNI's two dispatcher threads.

    Args:
        tuner: The tuner under test.
        trial: ``params -> final result`` (None: no result), run for real;
            an exception fails the trial.
        concurrency: Worker threads.
        max_trials: Trials in total.
        timeout: Give up (RuntimeError) after this many seconds.

    Returns:
        Records with wall-clock times (seconds since the start).
    """
    clock0 = time.perf_counter()

    def clock() -> float:
        return time.perf_counter() - clock0

    lock = threading.Lock()
    pending: dict[int, Pending] = {}
    arrived: queue.Queue[int] = queue.Queue()
    default_q: queue.Queue[tuple[str, Any] | None] = queue.Queue()
    assessor_q: queue.Queue[tuple[str, Any] | None] = queue.Queue()
    errors: list[BaseException] = []
    ids = itertools.count()

    def callback(parameter_id: int, params: Any) -> None:
        with lock:
            item = pending[parameter_id]
            item.params, item.dispatched_at = params, clock()
        arrived.put(parameter_id)

    def handle(command: str, data: Any) -> None:
        if command == "request":
            batch: list[int] = data
            produced = tuner.generate_multiple_parameters(batch, st_callback=callback)
            for pid, params in zip(batch, produced):
                callback(pid, params)
        elif command == "result":
            pid, params, value = data
            tuner.receive_trial_result(pid, params, value)
        elif command == "end":
            pid, ok = data
            tuner.trial_end(pid, ok)

    def worker(commands: queue.Queue[tuple[str, Any] | None]) -> None:
        while (command := commands.get()) is not None:
            try:
                handle(*command)
            except BaseException as exc:  # surfaced in the main thread
                errors.append(exc)

    def request(count: int) -> None:
        with lock:
            batch = [next(ids) for _ in range(count)]
            for pid in batch:
                pending[pid] = Pending(pid, clock())
        default_q.put(("request", batch))

    def run_one(pid: int, params: Any) -> tuple[Any, bool]:
        try:
            return trial(params), True
        except Exception as exc:
            _logger.info("trial %d raised %r: counted as failed", pid, exc)
            return None, False

    threads = [threading.Thread(target=worker, args=(q,), daemon=True, name=f"driver-{n}")
               for q, n in ((default_q, "default"), (assessor_q, "assessor"))]
    for thread in threads:
        thread.start()
    records: list[TrialRecord] = []
    submitted = 0
    futures: dict[concurrent.futures.Future[tuple[Any, bool]], int] = {}
    waiting: deque[int] = deque()
    try:
        with concurrent.futures.ThreadPoolExecutor(concurrency, thread_name_prefix="trial") as pool:
            request(concurrency)
            while submitted < max_trials or futures:
                if errors:
                    raise errors[0]
                if clock() > timeout:
                    raise RuntimeError(f"run_threaded: no completion after {timeout} s")
                while True:
                    try:
                        waiting.append(arrived.get_nowait())
                    except queue.Empty:
                        break
                while waiting and len(futures) < concurrency and submitted < max_trials:
                    pid = waiting.popleft()
                    with lock:
                        item = pending[pid]
                        item.started_at = clock()
                    futures[pool.submit(run_one, pid, item.params)] = pid
                    submitted += 1
                if not futures:
                    if submitted >= max_trials:
                        break
                    try:
                        waiting.append(arrived.get(timeout=0.05))
                    except queue.Empty:
                        pass
                    continue
                done, _ = concurrent.futures.wait(
                    futures, timeout=0.05, return_when=concurrent.futures.FIRST_COMPLETED)
                for future in done:
                    pid = futures.pop(future)
                    value, ok = future.result()
                    with lock:
                        item = pending.pop(pid)
                    ended = clock()
                    if value is not None:
                        default_q.put(("result", (pid, item.params, value)))
                    assessor_q.put(("end", (pid, ok)))
                    assert item.started_at is not None and item.dispatched_at is not None
                    records.append(TrialRecord(
                        pid, item.params, item.requested_at, item.dispatched_at, item.started_at,
                        ended, value, ended if value is not None else None, ok,
                    ))
                    if submitted < max_trials:
                        request(1)
    finally:
        default_q.put(None)
        assessor_q.put(None)
        for thread in threads:
            thread.join(timeout=10)
    if errors:
        raise errors[0]
    wall = max((r.ended_at for r in records), default=0.0)
    busy = sum(r.duration for r in records)
    with lock:
        unserved = tuple(sorted(pid for pid, item in pending.items() if item.dispatched_at is None))
    records.sort(key=lambda r: (r.started_at, r.parameter_id))
    return SimulationResult(tuple(records), wall, busy, concurrency * wall, unserved)

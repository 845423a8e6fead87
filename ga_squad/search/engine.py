"""The search engine: parent-gated, never-blocking dispatch of individuals.

This is the whole tuner minus NNI: it maps NNI's parameter ids to
individuals, decides what each trial request gets, handles results and
faults, and writes the lineage journal. The NNI adapter
(``tuner/ga_tuner.py``) and the in-process driver (:mod:`ga_squad.sim.driver`)
both drive it through three calls that mirror NNI's dispatcher (plus :meth:`SearchEngine.import_result`
for NNI's ``import_data`` on resume):

* :meth:`SearchEngine.request` -- NNI asks for trials (``generate_multiple_parameters``);
* :meth:`SearchEngine.report` -- a final result arrived (``receive_trial_result``);
* :meth:`SearchEngine.end` -- a trial ended (``trial_end``).

How a request is served
-----------------------
A request is served at once, in this order of preference:

1. with a **cold start** (a mutated base reader, no parent) while the
   population is still filling: ``reported members + running trials <
   population_size``. This seeds the search with ``population_size`` cold
   starts and, later, replaces cold starts that failed ("regenerated");
2. with a **child** of a tournament-selected *reported* member, if any
   member has reported.

Otherwise (nothing has reported yet and enough cold starts are running) the
request is **deferred**: its parameter id is remembered and served, oldest
first, by a later :meth:`report` or :meth:`end` that makes it servable. Those
calls *return* the newly served ``(parameter_id, params)`` pairs; the caller
hands them to NNI (``st_callback``) after the engine's lock is released.

Consequences, each tested in ``tests/test_engine.py``:

* A child is emitted only after its parent reported: parents are chosen
  among reported members only, at the moment of emission.
* No worker idles while a reported parent exists: a request is deferred only
  while the population is empty.
* No request is stranded: a deferred request implies an empty population and
  at least ``population_size`` running cold starts; whenever one of them
  fails, the same call serves a deferred request with a fresh cold start.
  Because a request is bound to its parent only when it is emitted (after
  the parent's result), a failing trial never has children waiting on it, so
  nothing needs re-parenting.
* Engine calls never block (no waiting on results, no sleeping), which
  matters because NNI 3.0 runs the tuner on its dispatcher's single command
  thread: blocking there deadlocks the experiment.

Results racing ends: NNI hands ``trial_end`` and ``receive_trial_result`` to
two threads, so a trial's end can be processed before its result. A trial
that ended without an accepted result is declared failed at once (so a slot
it held is freed immediately), and a result that still arrives afterwards is
accepted as *late*: the individual joins the population and the journal
shows ``failed`` then ``reported`` (``late: true``), which :func:`replay`
resolves to REPORTED. Under NNI the metric is normally sent seconds before
the end is detected, so late results are rare; the threaded driver provokes
them on purpose.

Ends naming the wrong trial: NNI 3.0's local training service hands
parameters to new trials in the order the trials ask for them
(``nni_node/training_service/v3/compat.js``), not by the trial's form, so two
trials started together can swap parameter sets. A trial's *result* carries
the parameter id it really ran, but its ``trial_end`` carries its form's id.
The engine stays correct because it never relies on an end for a result:
a wrong "failed" end is overridden by the real result arriving late, and a
wrong "succeeded" end of a trial that really failed leaves it FAILED
(``no_final_result``). Only the failure reason and a spare cold start can be
affected.

Thread safety: NNI calls ``receive_trial_result`` and ``trial_end`` from two
different threads. Every public method takes one lock, and the journal is
written under it, so journal order is state-change order.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ga_squad.search.contract import ContractError, TrialParams, result_indiv_id
from ga_squad.search.evolution import (
    EvolutionConfig,
    Individual,
    RegularizedEvolution,
    Status,
    parse_result,
)
from ga_squad.search.graph import Graph, GraphError
from ga_squad.search.journal import Journal, replay, report_order
from ga_squad.search.mutations import Mutation, Mutator
from ga_squad.search.paths import SearchLayout, ensure_inside

_logger = logging.getLogger(__name__)

__all__ = ["EngineStats", "Ready", "SearchEngine", "StrategyFactory"]

Ready = tuple[int, dict[str, Any]]
"""A servable trial: (NNI parameter id, contract dict for the trial)."""

StrategyFactory = Callable[[int], RegularizedEvolution]
"""Builds the proposal strategy for a session stream (0 = a new search, n = the n-th resume).

The engine owns dispatch and bookkeeping; the strategy owns the population and
the proposals (cold starts, parent selection, mutation). Injecting it (optuna's
sampler-in-study style) lets a simulation replay a fixed sequence of proposals
(:class:`ga_squad.sim.local_search.ScriptedEvolution`) without touching the engine.
"""


@dataclass(frozen=True)
class EngineStats:
    """Counters of one engine (this session; a resumed search starts again at 0).

    Attributes:
        generated: Individuals created (cold starts and children).
        dispatched: Parameter sets handed out (== generated: an individual is
            created at the moment its request is served).
        reported: Final results accepted (including late ones).
        failed: Trials that failed, were killed, ended without a usable final
            result, or were lost at a resume.
        deferred: Requests that had to wait (ever).
        waiting: Requests waiting now.
        regenerated: Cold starts beyond the first ``population_size``
            (replacing failed cold starts).
        late_results: Results that arrived after their trial was declared failed.
        ignored: Calls about unknown parameter ids or duplicates.
        running: Dispatched individuals with no outcome yet.
        population: Current population size.
    """

    generated: int = 0
    dispatched: int = 0
    reported: int = 0
    failed: int = 0
    deferred: int = 0
    waiting: int = 0
    regenerated: int = 0
    late_results: int = 0
    ignored: int = 0
    running: int = 0
    population: int = 0


class SearchEngine:
    """Thread-safe, NNI-free search state machine.

    If the journal already holds events (``nnictl resume``, or a restarted
    tuner), the engine rebuilds itself from them: ids continue at
    ``max(id) + 1``, the population is the reported individuals in report
    order (aging keeps the last ``population_size``), and individuals that
    were dispatched but never reported are marked failed (``lost_on_resume``)
    -- if NNI re-runs them and a result arrives after all, it is accepted as
    a late result.

    Args:
        config: Evolution parameters.
        layout: Storage layout of this search (checkpoint dirs, journal).
        journal: Lineage journal; None disables journaling (unit tests).
        mutator: Mutation policy (default from ``config``).
        base: Graph cold starts are mutated from (default: the base reader).
        strategy: Factory of the proposal strategy for a session stream
            (default: :class:`RegularizedEvolution` with ``config``,
            ``mutator`` and ``base``).
    """

    def __init__(
        self,
        config: EvolutionConfig,
        layout: SearchLayout,
        journal: Journal | None = None,
        mutator: Mutator | None = None,
        base: Graph | None = None,
        strategy: StrategyFactory | None = None,
    ) -> None:
        self.config = config
        self.layout = layout
        self._journal = journal
        self._lock = threading.Lock()
        self._individuals: dict[int, Individual] = {}
        self._by_parameter: dict[int, int] = {}
        self._running: set[int] = set()
        self._waiting: deque[int] = deque()
        self._next_id = 0
        self._cold_starts = 0
        self._session = 0
        self._counts: Counter[str] = Counter()
        self._strategy: StrategyFactory = strategy or (
            lambda stream: RegularizedEvolution(config, stream=stream, mutator=mutator, base=base))
        history = journal.read() if journal is not None else []
        if history:
            self._restore(history)
        else:
            self.evolution = self._strategy(0)

    # --- NNI-facing protocol ----------------------------------------------
    def request(self, parameter_ids: Sequence[int], defer: bool = True) -> list[Ready]:
        """Serve what can be served now of a request for ``len(parameter_ids)`` trials.

        Args:
            parameter_ids: NNI's ids for the requested trials.
            defer: Remember the ids not served now and serve them later
                through :meth:`report`/:meth:`end`. With False they are
                dropped (for callers without a way to emit later).

        Returns:
            ``(parameter_id, params)`` for a prefix of ``parameter_ids``, in
            order (NNI pairs the i-th returned params with the i-th id).

        Raises:
            ValueError: if an id was already used in this session.
        """
        with self._lock, self._batch():
            ready: list[Ready] = []
            for pid in parameter_ids:
                if pid in self._by_parameter or pid in self._waiting:
                    raise ValueError(f"parameter id {pid} was already requested")
                # FIFO: never serve a new request ahead of one already waiting.
                served = None if self._waiting else self._serve(pid)
                if served is None:
                    break
                ready.append(served)
            for pid in parameter_ids[len(ready):]:
                if defer:
                    self._waiting.append(pid)
                    self._counts["deferred"] += 1
                    self._log("deferred", parameter_id=pid)
                else:
                    _logger.info("request %d dropped: no parent has reported yet", pid)
            if len(ready) < len(parameter_ids) and defer:
                _logger.info(
                    "deferred %d request(s) until a parent reports (%d waiting, %d running)",
                    len(parameter_ids) - len(ready), len(self._waiting), len(self._running),
                )
            return ready

    def report(self, parameter_id: int, value: Any) -> list[Ready]:
        """Accept a final result: a number, or a dict with a numeric ``default``.

        A result that is not a finite number fails the individual
        (``invalid_result``) instead of entering the population.

        Returns:
            Deferred requests this result made servable (to emit now).
        """
        with self._lock, self._batch():
            indiv = self._lookup(parameter_id, "result")
            if indiv is None:
                return []
            self._accept(indiv, value, parameter_id)
            return self._drain()

    def end(self, parameter_id: int, success: bool) -> list[Ready]:
        """A trial ended (succeeded, failed, or was killed).

        A trial with no accepted result by now is declared failed (reason
        ``failed`` or, if it succeeded, ``no_final_result``), counted, logged
        and journaled; freeing its slot may let a deferred request be served
        with a regenerated cold start. A result that still arrives later
        (NNI delivers results and ends on different threads) is accepted as
        late.

        Returns:
            Deferred requests that became servable (to emit now).
        """
        with self._lock, self._batch():
            indiv = self._lookup(parameter_id, "trial end")
            if indiv is None:
                return []
            if indiv.status is Status.REPORTED:
                if not success:
                    _logger.warning(
                        "individual %d ended unsuccessfully after reporting; its result is kept",
                        indiv.indiv_id,
                    )
                return []
            if indiv.status is Status.FAILED:
                return []
            reason = "no_final_result" if success else "failed"
            detail = ("the trial succeeded without reporting a final result" if success
                      else "the trial failed or was killed")
            self._fail(indiv, reason, detail, parameter_id)
            return self._drain()

    def import_result(self, params: Mapping[str, Any], value: Any) -> list[Ready]:
        """Accept a result NNI replays on resume (``import_data``).

        Results of individuals already reported in the journal are ignored.
        Results of individuals the journal marked lost are accepted (late).
        Results of individuals missing from the journal are adopted from the
        contract dict (origin ``imported``) so a lost journal costs nothing
        but timestamps.

        NNI replays a trial's *form* parameters with the metric the trial
        reported, and NNI 3.0's local service can swap parameters between
        trials started together (see the module docstring), so the two may
        describe different individuals. A metric that names its own
        ``indiv_id`` (both trials here do) wins; if it disagrees with the
        parameters, the parameters cannot be used to adopt an unknown one.

        Returns:
            Deferred requests that became servable.
        """
        with self._lock, self._batch():
            indiv_id = params.get("indiv_id") if isinstance(params, Mapping) else None
            claimed = result_indiv_id(value)
            adoptable = True
            if claimed is not None and claimed != indiv_id:
                _logger.warning(
                    "imported result names individual %d but came with the parameters of %s "
                    "(NNI swapped parameters between trials); it is credited to %d",
                    claimed, indiv_id, claimed,
                )
                indiv_id, adoptable = claimed, False
            if not isinstance(indiv_id, int):
                _logger.warning("imported result without an indiv_id ignored")
                self._counts["ignored"] += 1
                return []
            indiv = self._individuals.get(indiv_id)
            if indiv is None and not adoptable:
                _logger.warning("imported result of unknown individual %d ignored: its parameters are lost",
                                indiv_id)
                self._counts["ignored"] += 1
                return []
            if indiv is None:
                indiv = self._adopt(params)
                if indiv is None:
                    return []
            if indiv.status is Status.REPORTED:
                _logger.debug("imported result of individual %d already known", indiv_id)
                return []
            self._accept(indiv, value, None)
            return self._drain()

    # --- queries -----------------------------------------------------------
    def stats(self) -> EngineStats:
        with self._lock:
            return EngineStats(
                generated=self._counts["generated"],
                dispatched=self._counts["dispatched"],
                reported=self._counts["reported"],
                failed=self._counts["failed"],
                deferred=self._counts["deferred"],
                waiting=len(self._waiting),
                regenerated=self._counts["regenerated"],
                late_results=self._counts["late_results"],
                ignored=self._counts["ignored"],
                running=len(self._running),
                population=len(self.evolution),
            )

    def individual(self, indiv_id: int) -> Individual:
        with self._lock:
            return self._individuals[indiv_id]

    def individuals(self) -> tuple[Individual, ...]:
        """Every individual of this search (restored ones included), by id."""
        with self._lock:
            return tuple(self._individuals[i] for i in sorted(self._individuals))

    def population(self) -> tuple[Individual, ...]:
        with self._lock:
            return self.evolution.population

    def best(self) -> Individual | None:
        with self._lock:
            reported = [i for i in self._individuals.values() if i.status is Status.REPORTED]
            return self.evolution.pick(reported, best=True)

    @property
    def waiting(self) -> tuple[int, ...]:
        """Deferred parameter ids, oldest first."""
        with self._lock:
            return tuple(self._waiting)

    @property
    def running(self) -> frozenset[int]:
        """Ids of dispatched individuals with no outcome yet."""
        with self._lock:
            return frozenset(self._running)

    @property
    def session(self) -> int:
        return self._session

    @property
    def next_id(self) -> int:
        with self._lock:
            return self._next_id

    def close(self) -> None:
        """Close the journal (idempotent)."""
        with self._lock:
            if self._journal is not None and not self._journal.closed:
                self._journal.close()

    # --- internals (lock held) -----------------------------------------------
    def _serve(self, pid: int) -> Ready | None:
        population = len(self.evolution)
        if population + len(self._running) < self.config.population_size:
            origin = "initial" if self._cold_starts < self.config.population_size else "regenerated"
            return self._emit(pid, None, self.evolution.propose_initial(), origin)
        parent = self.evolution.select_parent()
        if parent is None:
            return None
        return self._emit(pid, parent, self.evolution.make_child(parent), "child")

    def _emit(self, pid: int, parent: Individual | None, mutation: Mutation, origin: str) -> Ready:
        indiv_id = self._next_id
        self._next_id += 1
        save_dir = ensure_inside(self.layout.individual_dir(indiv_id), self.layout.root)
        restore_dir = None
        shared: frozenset[str] | None = None
        if parent is not None:
            restore_dir = str(ensure_inside(self.layout.individual_dir(parent.indiv_id), self.layout.root))
            shared = mutation.graph.shared_ids(parent.graph)
        else:
            self._cold_starts += 1
            if origin == "regenerated":
                self._counts["regenerated"] += 1
        text = mutation.operator if not mutation.detail else f"{mutation.operator}({mutation.detail})"
        indiv = Individual(
            indiv_id=indiv_id,
            parent_id=parent.indiv_id if parent is not None else None,
            graph=mutation.graph,
            shared_ids=shared,
            mutation=text,
            status=Status.DISPATCHED,
        )
        params = TrialParams(
            indiv_id=indiv_id,
            parent_id=indiv.parent_id,
            graph=indiv.graph,
            restore_dir=restore_dir,
            save_dir=str(save_dir),
            shared_ids=shared,
            mutation=text,
            seed=self.evolution.trial_seed(indiv_id),
        ).to_dict()
        self._individuals[indiv_id] = indiv
        self._by_parameter[pid] = indiv_id
        self._running.add(indiv_id)
        self._counts["generated"] += 1
        self._counts["dispatched"] += 1
        self._log(
            "generated",
            indiv_id=indiv_id,
            parent_id=indiv.parent_id,
            graph=params["graph"],
            shared_ids=params["shared_ids"],
            mutation=text,
            origin=origin,
            seed=params["seed"],
            save_dir=params["save_dir"],
            restore_dir=restore_dir,
        )
        self._log("dispatched", indiv_id=indiv_id, parent_id=indiv.parent_id, parameter_id=pid)
        _logger.debug("parameter %d -> individual %d (%s, parent %s)", pid, indiv_id, origin, indiv.parent_id)
        return pid, params

    def _drain(self) -> list[Ready]:
        ready: list[Ready] = []
        while self._waiting:
            served = self._serve(self._waiting[0])
            if served is None:
                break
            self._waiting.popleft()
            ready.append(served)
        return ready

    def _lookup(self, parameter_id: int, what: str) -> Individual | None:
        indiv_id = self._by_parameter.get(parameter_id)
        if indiv_id is None:
            _logger.warning("%s for unknown parameter id %s ignored", what, parameter_id)
            self._counts["ignored"] += 1
            return None
        return self._individuals[indiv_id]

    def _accept(self, indiv: Individual, value: Any, parameter_id: int | None) -> None:
        if indiv.status is Status.REPORTED:
            _logger.warning("duplicate result for individual %d ignored", indiv.indiv_id)
            self._counts["ignored"] += 1
            return
        try:
            scalar, metrics = parse_result(value)
        except ValueError as exc:
            if indiv.status is not Status.FAILED:
                self._fail(indiv, "invalid_result", str(exc), parameter_id)
            return
        late = indiv.status is Status.FAILED
        indiv = indiv.evolve(status=Status.REPORTED, result=scalar, metrics=metrics)
        self._individuals[indiv.indiv_id] = indiv
        self._running.discard(indiv.indiv_id)
        self._counts["reported"] += 1
        if late:
            self._counts["late_results"] += 1
            _logger.info("late result for individual %d accepted", indiv.indiv_id)
        self._log(
            "reported",
            indiv_id=indiv.indiv_id,
            parent_id=indiv.parent_id,
            parameter_id=parameter_id,
            value=scalar,
            result=metrics,
            late=late,
        )
        removed = self.evolution.add_reported(indiv)
        if removed is not None:
            self._log("retired", indiv_id=removed.indiv_id)

    def _fail(self, indiv: Individual, reason: str, detail: str, parameter_id: int | None) -> None:
        self._individuals[indiv.indiv_id] = indiv.evolve(status=Status.FAILED)
        self._running.discard(indiv.indiv_id)
        self._counts["failed"] += 1
        _logger.warning("individual %d failed (%s): %s", indiv.indiv_id, reason, detail)
        self._log(
            "failed",
            indiv_id=indiv.indiv_id,
            parent_id=indiv.parent_id,
            parameter_id=parameter_id,
            reason=reason,
            detail=detail,
        )

    def _adopt(self, params: Mapping[str, Any]) -> Individual | None:
        try:
            contract = TrialParams.from_dict(params, storage_root=self.layout.root)
        except (ContractError, GraphError, ValueError) as exc:
            _logger.warning("imported result with unusable parameters ignored: %s", exc)
            self._counts["ignored"] += 1
            return None
        shared = None
        if contract.parent_id is not None:
            shared = contract.shared_ids if contract.shared_ids is not None else frozenset()
        indiv = Individual(
            indiv_id=contract.indiv_id,
            parent_id=contract.parent_id,
            graph=contract.graph,
            shared_ids=shared,
            mutation=contract.mutation,
            status=Status.DISPATCHED,
        )
        self._individuals[indiv.indiv_id] = indiv
        self._next_id = max(self._next_id, indiv.indiv_id + 1)
        self._log(
            "generated",
            indiv_id=indiv.indiv_id,
            parent_id=indiv.parent_id,
            graph=indiv.graph.to_dict(),
            shared_ids=sorted(indiv.shared_ids) if indiv.shared_ids is not None else None,
            mutation=indiv.mutation,
            origin="imported",
            seed=contract.seed,
            save_dir=contract.save_dir,
            restore_dir=contract.restore_dir,
        )
        return indiv

    def _restore(self, history: list[dict[str, Any]]) -> None:
        """Rebuild from the journal (see the class docstring)."""
        records = replay(history)
        self._session = max((int(e.get("session", 0)) for e in history), default=0) + 1
        self.evolution = self._strategy(self._session)
        self._individuals = {i: r.to_individual() for i, r in records.items()}
        self._next_id = max(records, default=-1) + 1
        self._cold_starts = sum(1 for r in records.values() if r.parent_id is None)
        lost = [i for i, ind in self._individuals.items()
                if ind.status in (Status.GENERATED, Status.DISPATCHED)]
        with self._batch():
            for indiv_id in lost:
                indiv = self._individuals[indiv_id]
                self._individuals[indiv_id] = indiv.evolve(status=Status.FAILED)
                self._counts["failed"] += 1
                self._log("failed", indiv_id=indiv_id, parent_id=indiv.parent_id,
                          parameter_id=records[indiv_id].parameter_id, reason="lost_on_resume",
                          detail="dispatched but never reported before the experiment stopped")
            self.evolution.restore(
                self._individuals[i] for i in report_order(history)
                if i in self._individuals and self._individuals[i].status is Status.REPORTED
            )
            self._log(
                "resumed",
                next_id=self._next_id,
                population=[m.indiv_id for m in self.evolution.population],
                lost=lost,
            )
        _logger.info(
            "resumed session %d from the journal: %d individuals, population %d, next id %d, %d lost",
            self._session, len(records), len(self.evolution), self._next_id, len(lost),
        )

    def _log(self, event: str, **fields: Any) -> None:
        if self._journal is not None:
            self._journal.append(event, session=self._session, **fields)

    def _batch(self) -> contextlib.AbstractContextManager[None]:
        return self._journal.batch() if self._journal is not None else contextlib.nullcontext()

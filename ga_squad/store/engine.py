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
two threads, so a trial's end can be processed before its result. When the
caller knows the result is already queued (``result_in_flight``: the NNI
adapter looks in its dispatcher's queue), the end waits for it and nothing is
declared; otherwise the trial is declared failed at once (freeing its slot)
and a result that still arrives is accepted as *late* (the journal shows
``failed`` then ``reported`` with ``late: true``, which
:func:`~ga_squad.store.journal.replay` resolves to REPORTED).

Ends naming the wrong trial: NNI 3.0's local service can swap parameters
between trials started together, so :meth:`SearchEngine.end` attributes an
end by what the trial ran (:mod:`ga_squad.store.registry`) and journals
every end. A trial that ends without a result, but whose individual's
checkpoint is published and complete, is credited with the metrics its
manifest holds (the result was lost in flight), as a resume does
(:mod:`ga_squad.store.resume`).

Retention (:mod:`ga_squad.store.retention`) runs after every state change
when enabled.

Module layout: this module is the dispatch policy and the public API; the
bookkeeping is :mod:`ga_squad.store.registry`, rebuilding from the journal
and import data :mod:`ga_squad.store.resume`.

Thread safety: NNI calls ``receive_trial_result`` and ``trial_end`` from two
different threads. Every public method takes one lock, and the journal is
written under it, so journal order is state-change order.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ga_squad.store.claims import claimed_by
from ga_squad.search.evolution import EvolutionConfig, Individual, RegularizedEvolution, Status
from ga_squad.search.fitness import Fitness, FitnessError
from ga_squad.search.graph import Graph
from ga_squad.store.journal import HEADER_EVENT, Journal, header
from ga_squad.store.leftovers import sweep_after_end, sweep_search
from ga_squad.store.lock import ExperimentLock
from ga_squad.search.mutations import Mutation
from ga_squad.search.mutator import Mutator
from ga_squad.store.paths import SearchLayout
from ga_squad.store.registry import EngineStats, Registry
from ga_squad.store.resume import import_result, recover_from_manifest, restore
from ga_squad.store.retention import RetentionConfig, apply_retention

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


class SearchEngine:
    """Thread-safe, NNI-free search state machine.

    If the journal already holds events (``nnictl resume``, or a restarted
    tuner), the engine rebuilds itself from them (:func:`ga_squad.store.resume.restore`).

    Args:
        config: Evolution parameters.
        layout: Storage layout of this search (checkpoint dirs, journal).
        journal: Lineage journal; None disables journaling (unit tests).
        mutator: Mutation policy (default from ``config``).
        base: Graph cold starts are mutated from (default: the base reader).
        strategy: Factory of the proposal strategy for a session stream
            (default: :class:`RegularizedEvolution` with ``config``,
            ``mutator`` and ``base``).
        retention: Which checkpoints to keep (default: all).
        lock: The experiment lock this engine holds; released by :meth:`close`.
    """

    def __init__(
        self,
        config: EvolutionConfig,
        layout: SearchLayout,
        journal: Journal | None = None,
        mutator: Mutator | None = None,
        base: Graph | None = None,
        strategy: StrategyFactory | None = None,
        retention: RetentionConfig | None = None,
        lock: ExperimentLock | None = None,
    ) -> None:
        self.config = config
        self.layout = layout
        self.retention = retention or RetentionConfig()
        self._journal = journal
        self._experiment_lock = lock
        self._lock = threading.Lock()
        self._reg = Registry(journal)
        self._waiting: deque[int] = deque()
        self._awaiting: dict[str, tuple[int, bool, int, str]] = {}
        """trial job id -> (indiv_id, success, parameter_id, attribution) of an end waiting for its result."""
        self._start_sweep_due = True  # at the first request: past NNI's connect deadline
        self._strategy: StrategyFactory = strategy or (
            lambda stream: RegularizedEvolution(config, stream=stream, mutator=mutator, base=base))
        history = journal.read() if journal is not None else []
        if history:
            _check_fitness(history, config.fitness_spec, layout)
            self._reg.session = max((int(e.get("session", 0)) for e in history), default=0) + 1
            self.evolution = self._strategy(self._reg.session)
            restore(self._reg, history, layout, self.evolution)
            with self._reg.batch():
                self._retain()
        else:
            self.evolution = self._strategy(0)
            # The first event: what this search ranks by, so every reader ranks alike (store/best.py).
            self._reg.log(HEADER_EVENT, **search_header(config, self.retention))
        _logger.info("search ranks individuals by %s", config.fitness_spec.describe())

    # --- NNI-facing protocol ----------------------------------------------
    def request(self, parameter_ids: Sequence[int], defer: bool = True) -> list[Ready]:
        """Serve what can be served now of a request for ``len(parameter_ids)`` trials.

        The whole request is validated before any of it is served, so a bad
        request leaves no individual running that NNI never received.

        Args:
            parameter_ids: NNI's ids for the requested trials.
            defer: Remember the ids not served now and serve them later
                through :meth:`report`/:meth:`end`. With False they are
                dropped (for callers without a way to emit later).

        Returns:
            ``(parameter_id, params)`` for a prefix of ``parameter_ids``, in
            order (NNI pairs the i-th returned params with the i-th id).

        Raises:
            ValueError: if an id is repeated or was already used in this session.
        """
        with self._lock:
            if self._start_sweep_due:
                self._start_sweep_due = False
                self._sweep_all()  # leftovers of writers killed before this session
            seen: set[int] = set()
            for pid in parameter_ids:
                if pid in seen or pid in self._reg.by_parameter or pid in self._waiting:
                    raise ValueError(f"parameter id {pid} was already requested")
                seen.add(pid)
            with self._reg.batch():
                ready: list[Ready] = []
                for pid in parameter_ids:
                    # FIFO: never serve a new request ahead of one already waiting.
                    served = None if self._waiting else self._serve(pid)
                    if served is None:
                        break
                    ready.append(served)
                for pid in parameter_ids[len(ready):]:
                    if defer:
                        self._waiting.append(pid)
                        self._reg.counts["deferred"] += 1
                        self._reg.log("deferred", parameter_id=pid)
                    else:
                        _logger.info("request %d dropped: no parent has reported yet", pid)
                if len(ready) < len(parameter_ids) and defer:
                    _logger.info(
                        "deferred %d request(s) until a parent reports (%d waiting, %d running)",
                        len(parameter_ids) - len(ready), len(self._waiting), len(self._reg.running),
                    )
                return ready

    def report(self, parameter_id: int, value: Any, trial_job_id: str | None = None) -> list[Ready]:
        """Accept a final result: a number, or a dict with a numeric ``default``.

        The result is credited to the individual it names (``indiv_id``),
        else to ``parameter_id``'s. A result that is not a finite number
        fails the individual (``invalid_result``) instead of entering the population.

        Returns:
            Deferred requests this result made servable (to emit now).
        """
        with self._lock, self._reg.batch():
            indiv = self._reg.result_owner(parameter_id, value)
            if indiv is not None:
                self._reg.accept(indiv, value, self.evolution, parameter_id, trial_job_id)
            awaited = self._awaiting.pop(trial_job_id, None) if trial_job_id is not None else None
            if awaited is not None:  # this trial's end came first and waited for this result
                self._conclude_end(*awaited, trial_job_id)
            if indiv is None and awaited is None:
                return []
            return self._changed()

    def end(self, parameter_id: int, success: bool, trial_job_id: str | None = None,
            result_in_flight: bool = False) -> list[Ready]:
        """A trial ended (succeeded, failed, or was killed); journaled, attributed by what it ran.

        An individual with no accepted result by now is credited with its
        published checkpoint's metrics if that is complete, else declared
        failed (reason ``failed`` or, if it succeeded, ``no_final_result``);
        freeing its slot may let a deferred request be served. With
        ``result_in_flight`` (the caller knows this trial's final result is
        queued but not yet delivered: NNI hands results and ends to two
        threads) nothing is declared: the individual keeps its slot until that
        result arrives and settles it, so no failure is journaled that the
        result would undo. Without that knowledge a result that still arrives
        later is accepted as late. The ended individual's folder and the shared
        folders are then swept of leftovers of killed writers
        (:mod:`ga_squad.store.leftovers`).

        Returns:
            Deferred requests that became servable (to emit now).
        """
        with self._lock, self._reg.batch():
            indiv, how = self._reg.attribute_end(
                parameter_id, trial_job_id, lambda i: claimed_by(self.layout.individual_dir(i)))
            self._reg.log("ended", parameter_id=parameter_id, trial_job_id=trial_job_id, success=success,
                          indiv_id=indiv.indiv_id if indiv is not None else None, attributed_by=how,
                          **({"result_in_flight": True} if result_in_flight else {}))
            self._sweep_after_end(indiv.indiv_id if indiv is not None else None)
            if indiv is None:
                if how == "unknown":
                    _logger.warning("trial end for unknown parameter id %s ignored", parameter_id)
                return []
            if indiv.status is Status.REPORTED:
                if not success:
                    _logger.warning("individual %d ended unsuccessfully after reporting; its result is kept",
                                    indiv.indiv_id)
                return []
            if indiv.status is Status.FAILED:
                return []
            if recover_from_manifest(self._reg, indiv, self.layout, self.evolution, parameter_id):
                return self._changed()
            if result_in_flight and trial_job_id is not None:
                _logger.info("trial %s ended before its result was delivered; individual %d waits for it",
                             trial_job_id, indiv.indiv_id)
                self._awaiting[trial_job_id] = (indiv.indiv_id, success, parameter_id, how)
                return []
            self._conclude_end(indiv.indiv_id, success, parameter_id, how, trial_job_id)
            return self._changed()

    def _conclude_end(self, indiv_id: int, success: bool, parameter_id: int, how: str,
                      trial_job_id: str | None) -> None:
        """Fail an ended trial's individual unless a result settled it (lock held)."""
        indiv = self._reg.individuals[indiv_id]
        if indiv.status in (Status.REPORTED, Status.FAILED):
            return
        reason = "no_final_result" if success else "failed"
        detail = ("the trial succeeded without reporting a final result" if success
                  else "the trial failed or was killed")
        if how == "form":
            self._reg.failed_by_end[indiv_id] = trial_job_id
        self._reg.fail(indiv, reason, detail, parameter_id)

    def _sweep_all(self) -> None:
        if self._experiment_lock is None or not self._experiment_lock.held:
            return  # only the tuner holding the experiment sweeps its folders
        try:
            sweep_search(self.layout)
        except OSError as exc:  # a storage hiccup must not stop the search; the next sweep retries
            _logger.warning("could not sweep leftovers of %s: %s", self.layout.root, exc)

    def _sweep_after_end(self, indiv_id: int | None) -> None:
        if self._experiment_lock is None or not self._experiment_lock.held:
            return  # only the tuner holding the experiment sweeps its folders
        try:
            sweep_after_end(self.layout, indiv_id)
        except OSError as exc:  # a storage hiccup must not stop the search; the next sweep retries
            _logger.warning("could not sweep leftovers after the end of individual %s: %s", indiv_id, exc)

    def import_result(self, params: Mapping[str, Any], value: Any) -> list[Ready]:
        """Accept a result NNI replays on resume (``import_data``).

        Results of individuals already reported are ignored, of individuals
        marked lost accepted (late), of individuals missing from the journal
        adopted from the contract dict (origin ``imported``). The ``indiv_id``
        the metric names wins over the parameters NNI replays with it (NNI 3.0
        can swap parameters between trials started together). Details:
        :func:`ga_squad.store.resume.import_result`.

        Returns:
            Deferred requests that became servable.
        """
        with self._lock, self._reg.batch():
            if not import_result(self._reg, params, value, self.layout, self.evolution):
                return []
            return self._changed()

    # --- queries -----------------------------------------------------------
    def stats(self) -> EngineStats:
        with self._lock:
            return self._reg.stats(waiting=len(self._waiting), population=len(self.evolution))

    def individual(self, indiv_id: int) -> Individual:
        with self._lock:
            return self._reg.individuals[indiv_id]

    def individuals(self) -> tuple[Individual, ...]:
        """Every individual of this search (restored ones included), by id."""
        with self._lock:
            return tuple(self._reg.individuals[i] for i in sorted(self._reg.individuals))

    def population(self) -> tuple[Individual, ...]:
        with self._lock:
            return self.evolution.population

    def best(self) -> Individual | None:
        with self._lock:
            return self.evolution.pick(self._reg.reported(), best=True)

    @property
    def waiting(self) -> tuple[int, ...]:
        """Deferred parameter ids, oldest first."""
        with self._lock:
            return tuple(self._waiting)

    @property
    def running(self) -> frozenset[int]:
        """Ids of dispatched individuals with no outcome yet."""
        with self._lock:
            return frozenset(self._reg.running)

    @property
    def pruned(self) -> frozenset[int]:
        """Ids whose weights retention deleted (whole search)."""
        with self._lock:
            return frozenset(self._reg.pruned)

    @property
    def session(self) -> int:
        return self._reg.session

    @property
    def next_id(self) -> int:
        with self._lock:
            return self._reg.next_id

    def close(self) -> None:
        """Sweep leftovers of killed writers, close the journal, release the experiment lock (idempotent)."""
        with self._lock:
            self._sweep_all()  # no temp file of a killed writer outlives the search
            if self._journal is not None and not self._journal.closed:
                self._journal.close()
            if self._experiment_lock is not None:
                self._experiment_lock.release()

    # --- dispatch policy (lock held) ----------------------------------------------
    def _serve(self, pid: int) -> Ready | None:
        population = len(self.evolution)
        if population + len(self._reg.running) < self.config.population_size:
            origin = "initial" if self._reg.cold_starts < self.config.population_size else "regenerated"
            return self._emit(pid, None, self.evolution.propose_initial(), origin)
        parent = self.evolution.select_parent()
        if parent is None:
            return None
        return self._emit(pid, parent, self.evolution.make_child(parent), "child")

    def _emit(self, pid: int, parent: Individual | None, mutation: Mutation, origin: str) -> Ready:
        params = self._reg.create(pid, parent, mutation, origin, self.layout, self.evolution.trial_seed,
                                  self.config.fitness_spec)
        return pid, params

    def _changed(self) -> list[Ready]:
        """After a state change: serve what became servable, then apply retention."""
        ready: list[Ready] = []
        while self._waiting:
            served = self._serve(self._waiting[0])
            if served is None:
                break
            self._waiting.popleft()
            ready.append(served)
        self._retain()
        return ready

    def _retain(self) -> None:
        before = len(self._reg.pruned)
        apply_retention(self.retention, self.layout, self._reg.reported(), self.evolution.population,
                        self._reg.parents_in_use(), self.config.rank_mode, self._reg.pruned, self._reg.log)
        self._reg.counts["pruned"] += len(self._reg.pruned) - before


def search_header(config: EvolutionConfig, retention: RetentionConfig) -> dict[str, Any]:
    """The fields of the journal's first (``search``) event: the fitness with its direction, the settings."""
    settings = dataclasses.asdict(config)
    settings["optimize_mode"] = config.optimize_mode.value
    return {"fitness": config.fitness_spec.to_dict(), "optimize_mode": config.optimize_mode.value,
            "config": settings, "retention": {"keep": "all" if retention.top_k is None else retention.top_k}}


def _check_fitness(history: Sequence[Mapping[str, Any]], fitness: Fitness, layout: SearchLayout) -> None:
    """Refuse to resume a search with another fitness than the one its journal records.

    Raises:
        FitnessError: naming both (a search ranked two ways has no single best), or naming the
            journal when it does not start with the ``search`` event that records the fitness.
    """
    first = header(history)
    if first is None:
        raise FitnessError(f"journal {layout.journal_path} does not start with a 'search' event saying what its "
                           f"search ranks by; it is not a journal of this version of ga-squad and cannot be resumed")
    recorded = Fitness.from_dict(first.get("fitness") or {})
    if recorded != fitness:
        raise FitnessError(f"search {layout.root.name} ranks by {recorded.describe()} (the first event of "
                           f"{layout.journal_path}); it cannot be resumed ranked by {fitness.describe()}: "
                           f"resume it with fitness: {recorded.key}")

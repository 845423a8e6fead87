"""Bookkeeping of a search: individuals, NNI's ids, what each trial ran, and the journal.

The :class:`Registry` holds every state change of individuals and writes it
to the lineage journal; it makes no dispatch decision (that is
:mod:`ga_squad.store.engine`) and does not rebuild itself from a journal
(that is :mod:`ga_squad.store.resume`). Callers hold the engine's lock.

Attribution of trial ends
-------------------------
NNI 3.0's local training service hands parameters to trials in the order
the trials *ask* for them (``nni_node/training_service/v3/compat.js``), not by
the trial's form, so a trial can run another trial's parameters (e.g. after
one trial exits before asking, every later trial runs its predecessor's).
NNI passes the tuner:

* with a final result, the parameter id the trial really ran (the trial SDK
  stamps it) and the trial job id, and the result itself names its
  ``indiv_id``: results are attributed right;
* with ``trial_end``, only the *form's* parameter id (the NNI adapter recovers
  the trial job id, see ``tuner/ga_tuner.py``).

So :meth:`Registry.attribute_end` attributes an end by what the trial ran:
the individual its own result named (``attributed_by: result``), else the
individual it claimed when it took its parameters (``claim``, see
:mod:`ga_squad.store.claims`); else, if another trial took its form's
individual, or trials write claims and nobody claimed it, nobody (``none``:
the trial exited before taking parameters, which stay queued for a later
trial); else its form's individual (``form``: trials that write no claims,
or callers without job ids). An end attributed by ``form``
may be wrong; if the individual's real result arrives later it is accepted
as late, and the journal says which failure it corrects.
"""

from __future__ import annotations

import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ga_squad.store.contract import TrialParams, result_indiv_id
from ga_squad.search.evolution import Individual, RegularizedEvolution, Status, parse_result
from ga_squad.search.fitness import Fitness
from ga_squad.store.journal import Journal
from ga_squad.search.mutations import Mutation
from ga_squad.store.paths import SearchLayout, ensure_inside

_logger = logging.getLogger(__name__)

__all__ = ["EngineStats", "Registry"]


@dataclass(frozen=True)
class EngineStats:
    """Counters of one engine (this session; a resumed search starts again at 0).

    Attributes:
        generated: Individuals created (cold starts and children).
        dispatched: Parameter sets handed out (== generated: an individual is
            created at the moment its request is served).
        reported: Final results accepted (including late and recovered ones).
        failed: Trials that failed, were killed, ended without a usable final
            result, or were lost at a resume.
        deferred: Requests that had to wait (ever).
        waiting: Requests waiting now.
        regenerated: Cold starts beyond the first ``population_size``
            (replacing failed cold starts).
        late_results: Results that arrived after their trial was declared failed.
        recovered: Results read from published manifests (never delivered).
        corrected_ends: Late results that revealed an end attributed to the
            wrong individual (by its form) and undid its failure.
        pruned: Individuals whose weights retention deleted (this session).
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
    recovered: int = 0
    corrected_ends: int = 0
    pruned: int = 0
    ignored: int = 0
    running: int = 0
    population: int = 0


class Registry:
    """Individuals and ids of one search (not thread-safe: the engine's lock covers it).

    Args:
        journal: Where every state change is written (None: not journaled).
    """

    def __init__(self, journal: Journal | None) -> None:
        self.journal = journal
        self.individuals: dict[int, Individual] = {}
        self.by_parameter: dict[int, int] = {}
        self.running: set[int] = set()
        self.job_ran: dict[str, int] = {}
        """trial job id -> the individual its result named."""
        self.ran_by: dict[int, str] = {}
        """indiv_id -> the trial job whose result it is."""
        self.failed_by_end: dict[int, str | None] = {}
        """indiv_id -> trial job of the end that failed it (``form`` attribution only)."""
        self.pruned: set[int] = set()
        self.claims_seen = False
        """Whether the trials write claims (then an unclaimed individual was not taken)."""
        self.counts: Counter[str] = Counter()
        self.next_id = 0
        self.cold_starts = 0
        self.session = 0

    # --- journal ---------------------------------------------------------------
    def log(self, event: str, **fields: Any) -> None:
        if self.journal is not None:
            self.journal.append(event, session=self.session, **fields)

    def batch(self) -> contextlib.AbstractContextManager[None]:
        return self.journal.batch() if self.journal is not None else contextlib.nullcontext()

    # --- state changes -----------------------------------------------------------
    def create(
        self,
        parameter_id: int,
        parent: Individual | None,
        mutation: Mutation,
        origin: str,
        layout: SearchLayout,
        trial_seed: Callable[[int], int],
        fitness: Fitness = Fitness(),
    ) -> dict[str, Any]:
        """Create the next individual, dispatched under ``parameter_id``; returns its contract dict.

        ``fitness`` travels in the contract: the trial keeps its best epoch by it.
        """
        indiv_id = self.next_id
        save_dir = ensure_inside(layout.individual_dir(indiv_id), layout.root)
        restore_dir = None
        shared: frozenset[str] | None = None
        if parent is not None:
            restore_dir = str(ensure_inside(layout.individual_dir(parent.indiv_id), layout.root))
            shared = mutation.graph.shared_ids(parent.graph)
        else:
            self.cold_starts += 1
            if origin == "regenerated":
                self.counts["regenerated"] += 1
        text = mutation.operator if not mutation.detail else f"{mutation.operator}({mutation.detail})"
        indiv = Individual(indiv_id=indiv_id, parent_id=parent.indiv_id if parent is not None else None,
                           graph=mutation.graph, shared_ids=shared, mutation=text, status=Status.DISPATCHED)
        params = TrialParams(indiv_id=indiv_id, parent_id=indiv.parent_id, graph=indiv.graph,
                             restore_dir=restore_dir, save_dir=str(save_dir), shared_ids=shared,
                             mutation=text, seed=trial_seed(indiv_id), fitness=fitness).to_dict()
        self.add(indiv, parameter_id)
        self.counts["generated"] += 1
        self.counts["dispatched"] += 1
        self.log("generated", indiv_id=indiv_id, parent_id=indiv.parent_id, graph=params["graph"],
                 shared_ids=params["shared_ids"], mutation=text, origin=origin, seed=params["seed"],
                 save_dir=params["save_dir"], restore_dir=restore_dir)
        self.log("dispatched", indiv_id=indiv_id, parent_id=indiv.parent_id, parameter_id=parameter_id)
        _logger.debug("parameter %d -> individual %d (%s, parent %s)", parameter_id, indiv_id, origin,
                      indiv.parent_id)
        return params

    def add(self, indiv: Individual, parameter_id: int | None) -> None:
        """Register a new individual (dispatched under ``parameter_id``, or adopted if None)."""
        self.individuals[indiv.indiv_id] = indiv
        self.next_id = max(self.next_id, indiv.indiv_id + 1)
        if parameter_id is not None:
            self.by_parameter[parameter_id] = indiv.indiv_id
            self.running.add(indiv.indiv_id)

    def lookup(self, parameter_id: int, what: str) -> Individual | None:
        indiv_id = self.by_parameter.get(parameter_id)
        if indiv_id is None:
            _logger.warning("%s for unknown parameter id %s ignored", what, parameter_id)
            self.counts["ignored"] += 1
            return None
        return self.individuals[indiv_id]

    def result_owner(self, parameter_id: int, value: Any) -> Individual | None:
        """The individual a result belongs to: the one it names, else the parameter id's."""
        by_id = self.lookup(parameter_id, "result")
        claimed = result_indiv_id(value)
        if claimed is None or (by_id is not None and claimed == by_id.indiv_id):
            return by_id
        if claimed in self.individuals:
            _logger.warning("result under parameter id %s names individual %d: credited to %d",
                            parameter_id, claimed, claimed)
            return self.individuals[claimed]
        _logger.warning("result names unknown individual %d; ignored", claimed)
        self.counts["ignored"] += 1
        return None

    def accept(
        self,
        indiv: Individual,
        value: Any,
        evolution: RegularizedEvolution,
        parameter_id: int | None,
        trial_job_id: str | None = None,
        **extra: Any,
    ) -> bool:
        """Record a final result; it joins the population by birth order. Returns whether accepted."""
        if trial_job_id is not None:
            self.job_ran[trial_job_id] = indiv.indiv_id
        if indiv.status is Status.REPORTED:
            _logger.warning("duplicate result for individual %d ignored", indiv.indiv_id)
            self.counts["ignored"] += 1
            return False
        try:
            scalar, metrics = parse_result(value, evolution.config.fitness)
        except ValueError as exc:
            if indiv.status is not Status.FAILED:
                self.fail(indiv, "invalid_result", str(exc), parameter_id)
            return False
        late = indiv.status is Status.FAILED
        if trial_job_id is not None:
            self.ran_by[indiv.indiv_id] = trial_job_id
        indiv = indiv.evolve(status=Status.REPORTED, result=scalar, metrics=metrics)
        self.individuals[indiv.indiv_id] = indiv
        self.running.discard(indiv.indiv_id)
        self.counts["reported"] += 1
        corrects = None
        if late:
            self.counts["late_results"] += 1
            _logger.info("late result for individual %d accepted", indiv.indiv_id)
            if indiv.indiv_id in self.failed_by_end:
                failing_job = self.failed_by_end.pop(indiv.indiv_id)
                if trial_job_id is None or failing_job != trial_job_id:
                    corrects = failing_job or "unknown"
                    self.counts["corrected_ends"] += 1
        if corrects is not None:
            extra["corrects_end_of"] = corrects
        self.log("reported", indiv_id=indiv.indiv_id, parent_id=indiv.parent_id, parameter_id=parameter_id,
                 trial_job_id=trial_job_id, value=scalar, result=metrics, late=late, **extra)
        removed = evolution.add_reported(indiv)
        if removed is not None:
            self.log("retired", indiv_id=removed.indiv_id)
        return True

    def fail(self, indiv: Individual, reason: str, detail: str, parameter_id: int | None) -> None:
        self.individuals[indiv.indiv_id] = indiv.evolve(status=Status.FAILED)
        self.running.discard(indiv.indiv_id)
        self.counts["failed"] += 1
        _logger.warning("individual %d failed (%s): %s", indiv.indiv_id, reason, detail)
        self.log("failed", indiv_id=indiv.indiv_id, parent_id=indiv.parent_id, parameter_id=parameter_id,
                 reason=reason, detail=detail)

    def attribute_end(
        self, parameter_id: int, trial_job_id: str | None, claims: Callable[[int], set[str]]
    ) -> tuple[Individual | None, str]:
        """Which individual a trial end is about, and how that was decided (module docstring).

        Args:
            parameter_id: The end's (form's) parameter id.
            trial_job_id: The ending trial's job id, if known.
            claims: indiv_id -> trial job ids that claimed it (:mod:`ga_squad.store.claims`).
        """
        if trial_job_id is not None and trial_job_id in self.job_ran:
            return self.individuals[self.job_ran[trial_job_id]], "result"
        form = self.by_parameter.get(parameter_id)
        if form is None:
            self.counts["ignored"] += 1
            return None, "unknown"
        if trial_job_id is None:
            return self.individuals[form], "form"
        for indiv_id in sorted(self.running | set(self.failed_by_end) | {form}):
            jobs = claims(indiv_id)
            self.claims_seen = self.claims_seen or bool(jobs)
            if trial_job_id in jobs:
                return self.individuals[indiv_id], "claim"
        ran_by = self.ran_by.get(form)
        if (ran_by is not None and ran_by != trial_job_id) or claims(form) or self.claims_seen:
            # Another trial took this form's individual, or (trials claim what they take) none
            # did yet: this trial took nothing, and the form's parameters wait for a later trial.
            return None, "none"
        return self.individuals[form], "form"

    # --- queries ---------------------------------------------------------------------
    def stats(self, waiting: int, population: int) -> EngineStats:
        c = self.counts
        return EngineStats(
            generated=c["generated"], dispatched=c["dispatched"], reported=c["reported"], failed=c["failed"],
            deferred=c["deferred"], waiting=waiting, regenerated=c["regenerated"],
            late_results=c["late_results"], recovered=c["recovered"], corrected_ends=c["corrected_ends"],
            pruned=c["pruned"], ignored=c["ignored"], running=len(self.running), population=population,
        )

    def reported(self) -> list[Individual]:
        return [i for i in self.individuals.values() if i.status is Status.REPORTED]

    def parents_in_use(self) -> set[int]:
        """Parents a child may still read: of running children, and of children failed by an
        uncertain (``form``) end, which may in truth still be running."""
        ids = self.running | set(self.failed_by_end)
        return {p for i in ids if (p := self.individuals[i].parent_id) is not None}


def params_indiv_id(params: Mapping[str, Any] | Any) -> int | None:
    """The ``indiv_id`` of a contract dict, or None."""
    value = params.get("indiv_id") if isinstance(params, Mapping) else None
    return value if isinstance(value, int) and not isinstance(value, bool) else None

"""Regularized evolution over reader graphs: individuals, selection, removal.

Pure Python, no NNI, no clock, no I/O: every choice comes from one
``random.Random`` seeded from :class:`EvolutionConfig`, so a search replays
exactly from its seed and its sequence of results.

Why regularized evolution (aging) is the default
-------------------------------------------------
Real et al. 2019 ("Regularized Evolution for Image Classifier Architecture
Search") remove the *oldest* member of the population rather than the worst.
A model that scored well once by luck is then not kept forever: it must keep
being re-discovered through its descendants to stay in the population. Our
evaluations are noisy twice over (short training runs, and children that are
warm-started from a parent's weights, so a child's score mixes the quality of
its architecture with how much training it inherited), which is exactly the
setting in which the paper found aging more robust than killing the worst.
``aging=False`` switches to the classic "remove the worst" policy for
comparison.

The population here holds only **reported** individuals (those with a final
result and hence a checkpoint a child can warm-start from). Individuals that
are generated or still training live in the search engine
(:mod:`ga_squad.store.engine`), not in the population.
"""

from __future__ import annotations

import bisect
import enum
import logging
import math
import random
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from ga_squad.search.fitness import Fitness, OptimizeMode
from ga_squad.search.graph import Graph, base_reader
from ga_squad.search.mutations import Mutation
from ga_squad.search.mutator import Mutator

_logger = logging.getLogger(__name__)

__all__ = [
    "EvolutionConfig",
    "Individual",
    "OptimizeMode",
    "RegularizedEvolution",
    "Status",
    "parse_result",
]


class Status(str, enum.Enum):
    """Life cycle of an individual.

    ``GENERATED`` -> ``DISPATCHED`` -> ``REPORTED`` (final result received) or
    ``FAILED`` (failed, killed, or ended without a final result).
    """

    GENERATED = "generated"
    DISPATCHED = "dispatched"
    REPORTED = "reported"
    FAILED = "failed"


@dataclass(frozen=True)
class Individual:
    """One architecture in the search, and what became of it.

    Immutable: a status change builds a new record (:meth:`evolve`).

    Attributes:
        indiv_id: Unique within a search, never reused (also across resumes).
        parent_id: The individual it was mutated from; None for a cold start.
        graph: Its architecture.
        shared_ids: Weight hash ids present in both this graph and the
            parent's (what it may inherit); None for a cold start.
        mutation: How the graph was derived, for humans and the journal.
        status: Where it is in its life cycle.
        result: The scalar final result (``default``), once reported.
        metrics: Everything the trial reported with its final result.
    """

    indiv_id: int
    parent_id: int | None
    graph: Graph
    shared_ids: frozenset[str] | None
    mutation: str = ""
    status: Status = Status.GENERATED
    result: float | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.indiv_id < 0:
            raise ValueError(f"indiv_id must be non-negative, got {self.indiv_id}")
        if (self.parent_id is None) != (self.shared_ids is None):
            raise ValueError("parent_id and shared_ids must be both None (cold start) or both set")
        if self.status is Status.REPORTED and self.result is None:
            raise ValueError(f"individual {self.indiv_id} is REPORTED without a result")

    @property
    def cold_start(self) -> bool:
        return self.parent_id is None

    def evolve(self, **changes: Any) -> Individual:
        """A copy with ``changes`` applied (status transitions go through here)."""
        return replace(self, **changes)


@dataclass(frozen=True)
class EvolutionConfig:
    """Parameters of the evolutionary search (architecture side only).

    Attributes:
        population_size: Reported individuals kept (P in Real et al.); also
            the number of cold starts that seed the search.
        tournament_size: Members sampled per selection (S); clamped to the
            current population size, so any value >= 1 is valid.
        min_layers: Fewest hidden layers a mutation may leave.
        max_layers: Most hidden layers a mutation may leave.
        initial_mutations: Mutations applied to the base reader to make each
            initial individual (diversity of the first population).
        optimize_mode: Whether a higher or a lower result is better.
        seed: Seed of the search's random generator.
        aging: Remove the oldest member (regularized evolution) when True,
            the worst member when False.
        fitness: Key of the trial's final result the search ranks by:
            ``default`` (validation F1, ranked by ``optimize_mode``) or
            another number the trial reports. Its direction is
            :attr:`fitness_spec`: a key of known meaning carries its own
            (``val_loss`` minimised, ``val_f1``/``val_em`` maximised), since
            ``optimize_mode`` is NNI's order for the ``default`` metric it
            displays (:mod:`ga_squad.search.fitness`). Validation loss
            is the steadier signal on a small validation split: on the
            sample's 169 questions F1 moves by 1-2 points between epochs
            whose loss differs by 0.05, so ranking by F1 often extends the
            less trained of two lineages.
        siblings: Children proposed from one selected parent before the next
            selection (a brood). 1: every child's parent is selected anew.
            k > 1: the selected parent stays the parent of the next k
            children while it is in the population, so k siblings, trained
            for the same epochs on top of the same weights, compete, and the
            next selection sees them side by side. With inherited weights a
            child has one epoch more than its parent, so a child compared with
            its parent is mostly compared on that epoch: in the seeded search
            on the shared data every one of 7 children beat its parent, and
            the chain kept every edit. Siblings differ only in their edit
            (NASH, Elsken et al. 2017, trains several children per
            hill-climbing step for this reason).
        control: With ``siblings`` k > 1, the first child of every brood is
            the parent's graph unchanged (an ``identity`` child: the parent
            trained on), so each edit competes with the parent's own
            continued training at equal epochs and the lineage keeps an edit
            only when it beats that. Without a control, "the child beat its
            parent" mostly measures the child's extra epoch; with one, the
            search's best is the preset itself unless some edit earned its
            place. Costs one of every k children.
    """

    population_size: int = 32
    tournament_size: int = 8
    min_layers: int = 1
    max_layers: int = 12
    initial_mutations: int = 3
    optimize_mode: OptimizeMode = OptimizeMode.MAXIMIZE
    seed: int = 0
    aging: bool = True
    fitness: str = "default"
    siblings: int = 1
    control: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "optimize_mode", OptimizeMode(self.optimize_mode))
        Fitness.resolve(self.fitness, self.optimize_mode)  # raises FitnessError (a ValueError) naming the key

        for name in ("population_size", "tournament_size", "min_layers", "max_layers", "siblings"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.max_layers < self.min_layers:
            raise ValueError(f"max_layers ({self.max_layers}) must be >= min_layers ({self.min_layers})")
        if isinstance(self.initial_mutations, bool) or not isinstance(self.initial_mutations, int) \
                or self.initial_mutations < 0:
            raise ValueError(f"initial_mutations must be a non-negative integer, got {self.initial_mutations!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ValueError(f"seed must be an integer, got {self.seed!r}")
        if not isinstance(self.control, bool):
            raise ValueError(f"control must be true or false, got {self.control!r}")
        if self.control and self.siblings < 2:
            raise ValueError("control needs siblings >= 2: with one child per parent every child "
                             "would be the unchanged parent")

    @property
    def fitness_spec(self) -> Fitness:
        """The fitness key with its direction: what the journal records and every trial selects by."""
        return Fitness.resolve(self.fitness, self.optimize_mode)

    @property
    def rank_mode(self) -> OptimizeMode:
        """How the fitness is ranked (:attr:`fitness_spec`'s direction)."""
        return self.fitness_spec.mode

    def better(self, a: float, b: float) -> bool:
        """Whether fitness ``a`` is strictly better than fitness ``b``."""
        return self.fitness_spec.better(a, b)


class RegularizedEvolution:
    """Population, tournament selection and removal policy.

    Args:
        config: Search parameters.
        stream: Distinguishes random streams of the same seed. A resumed
            search uses a new stream so it does not replay the proposals of
            the session it resumes, while staying deterministic.
        mutator: Mutation policy; defaults to ``Mutator(min_layers, max_layers)``.
        base: The graph initial individuals are mutated from.
    """

    def __init__(
        self,
        config: EvolutionConfig,
        stream: int = 0,
        mutator: Mutator | None = None,
        base: Graph | None = None,
    ) -> None:
        self.config = config
        # str seeds are hashed with sha512 by random.Random: deterministic across runs.
        self.rng = random.Random(config.seed if stream == 0 else f"{config.seed}:{stream}")
        self.mutator = mutator if mutator is not None else Mutator(config.min_layers, config.max_layers)
        self.base = base if base is not None else base_reader()
        maxlen = config.population_size if config.aging else None
        self._population: deque[Individual] = deque(maxlen=maxlen)
        # (parent id, children proposed from it) of the current brood (EvolutionConfig.siblings),
        # and the fingerprints of the graphs proposed in it (siblings are distinct readers).
        self._brood: tuple[int, int] | None = None
        self._brood_graphs: set[str] = set()

    # --- population ---------------------------------------------------------
    @property
    def population(self) -> tuple[Individual, ...]:
        """Current members, oldest (lowest ``indiv_id``) first."""
        return tuple(self._population)

    def __len__(self) -> int:
        return len(self._population)

    @property
    def full(self) -> bool:
        return len(self._population) >= self.config.population_size

    def add_reported(self, individual: Individual) -> Individual | None:
        """Add a reported individual by birth order; returns the member removed to make room, if any.

        Age is birth order (``indiv_id``), as regularized evolution defines
        it, not the order results arrive: a late or imported result of an old
        individual joins among its contemporaries, and if it is older than
        every member of a full aging population it is the one removed (it
        enters and leaves at once, and is returned).

        Raises:
            ValueError: if the individual has no result.
        """
        if individual.status is not Status.REPORTED or individual.result is None:
            raise ValueError(f"only reported individuals join the population (got {individual.status.value})")
        position = bisect.bisect_left([m.indiv_id for m in self._population], individual.indiv_id)
        removed: Individual | None = None
        if self.config.aging:
            if self.full:
                if position == 0:
                    removed = individual
                else:
                    removed = self._population.popleft()
                    position -= 1
            if removed is not individual:
                self._population.insert(position, individual)
        else:
            self._population.insert(position, individual)
            if len(self._population) > self.config.population_size:
                removed = self.worst()
                self._population.remove(removed)
        if removed is not None:
            _logger.debug("individual %d leaves the population", removed.indiv_id)
        return removed

    def restore(self, reported: Iterable[Individual]) -> None:
        """Rebuild the population from reported individuals (kept by birth order)."""
        self._population.clear()
        self._brood = None
        self._brood_graphs.clear()
        for individual in sorted(reported, key=lambda i: i.indiv_id):
            self.add_reported(individual)

    def best(self) -> Individual | None:
        """The best current member (ties: the oldest)."""
        return self.pick(self._population, best=True)

    def worst(self) -> Individual | None:
        """The worst current member (ties: the oldest)."""
        return self.pick(self._population, best=False)

    def pick(self, members: Iterable[Individual], best: bool = True) -> Individual | None:
        """The best (or worst) of reported ``members``; ties go to the earliest."""
        chosen: Individual | None = None
        for member in members:
            assert member.result is not None
            if chosen is None:
                chosen = member
                continue
            assert chosen.result is not None
            if (self.config.better(member.result, chosen.result) if best
                    else self.config.better(chosen.result, member.result)):
                chosen = member
        return chosen

    # --- proposals ------------------------------------------------------------
    def propose_initial(self) -> Mutation:
        """A cold-start architecture: the base reader after ``initial_mutations`` mutations (ending elsewhere)."""
        return self.mutator.mutate_many(self.base, self.rng, self.config.initial_mutations, away=True)

    def select_parent(self) -> Individual | None:
        """The parent of the next child; None if the population is empty.

        Tournament selection: samples ``min(tournament_size, len(population))``
        distinct members and returns the best (ties broken by age: the older
        wins, deterministic). With ``siblings`` k > 1 the chosen parent is
        returned again for the next k - 1 calls while it stays in the
        population (every call proposes one child). A resumed search starts a
        new brood.
        """
        size = len(self._population)
        if size == 0:
            return None
        if self._brood is not None and self._brood[1] < self.config.siblings:
            parent_id, proposed = self._brood
            parent = next((m for m in self._population if m.indiv_id == parent_id), None)
            if parent is not None:
                self._brood = (parent_id, proposed + 1)
                return parent
        k = min(self.config.tournament_size, size)
        indices = sorted(self.rng.sample(range(size), k))
        parent = self.pick((self._population[i] for i in indices), best=True)
        assert parent is not None
        self._brood = (parent.indiv_id, 1)
        self._brood_graphs.clear()
        return parent

    def make_child(self, parent: Individual) -> Mutation:
        """One mutation of the parent's architecture, or the brood's control (``EvolutionConfig.control``).

        The control is the first child of a brood, so a brood cut short
        (its parent left the population) still had one. With a control, the
        brood's other children are edits: the ``identity`` operator is left
        out of their draw, since it would only repeat the control.

        Siblings are distinct readers: an edit that gives a graph already
        proposed in this brood (the same layer widened twice, say) is redrawn
        a bounded number of times, since the duplicate would only re-measure
        its sibling under another data order.
        """
        if self.config.control and self._brood == (parent.indiv_id, 1):
            self._brood_graphs.add(parent.graph.fingerprint())
            return Mutation(parent.graph, "identity", "control: the parent trained on")
        for _ in range(self.mutator.max_tries):
            child = self.mutator.mutate(parent.graph, self.rng, edits_only=self.config.control)
            if child.graph.fingerprint() not in self._brood_graphs:
                break
        self._brood_graphs.add(child.graph.fingerprint())
        return child

    def trial_seed(self, indiv_id: int) -> int:
        """Per-trial seed: a function of (search seed, individual), not of dispatch order."""
        return (self.config.seed * 1_000_003 + indiv_id * 7_919) % (2**31 - 1)


def parse_result(value: Any, key: str = "default") -> tuple[float, dict[str, Any]]:
    """Turn a trial's final result into (scalar, metrics).

    Accepts a number or a mapping with a numeric ``key`` (by default
    ``default``, NNI's convention for ``nni.report_final_result``; see
    :attr:`EvolutionConfig.fitness`).

    Raises:
        ValueError: if there is no finite scalar to rank the individual by.
    """
    if isinstance(value, Mapping):
        if key not in value:
            raise ValueError(f"final result dict lacks the fitness {key!r}: keys {sorted(value)}")
        metrics = dict(value)
        scalar = value[key]
    else:
        metrics = {"default": value}
        scalar = value
    if isinstance(scalar, bool) or not isinstance(scalar, (int, float)):
        raise ValueError(f"final result must be a number, got {scalar!r}")
    scalar = float(scalar)
    if not math.isfinite(scalar):
        raise ValueError(f"final result is not finite: {scalar!r}")
    return scalar, metrics

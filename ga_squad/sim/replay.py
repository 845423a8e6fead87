"""Replay a recorded sequence of proposals: the same graphs, parents and seeds, whatever the results.

A search with weight sharing and one without choose *different* graphs as
soon as their results differ (tournaments). To compare them apples to apples,
the second search proposes exactly the first one's (graph, parent) sequence:
:class:`ScriptedEvolution` is injected into the engine as its proposal
strategy (:data:`ga_squad.store.engine.StrategyFactory`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ga_squad.search.evolution import EvolutionConfig, Individual, RegularizedEvolution
from ga_squad.search.graph import Graph
from ga_squad.search.mutations import Mutation

__all__ = ["Proposal", "ScriptedEvolution"]


@dataclass(frozen=True)
class Proposal:
    """What the tuner proposed for one individual (enough to replay it).

    Attributes:
        indiv_id: The individual's id.
        parent_id: Its parent's id, or None for a cold start.
        graph: Its architecture.
        mutation: The mutation text.
    """

    indiv_id: int
    parent_id: int | None
    graph: Graph
    mutation: str

    def to_dict(self) -> dict[str, Any]:
        return {"indiv_id": self.indiv_id, "parent_id": self.parent_id,
                "graph": self.graph.to_dict(), "mutation": self.mutation}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Proposal:
        return cls(int(data["indiv_id"]), None if data.get("parent_id") is None else int(data["parent_id"]),
                   Graph.from_dict(data["graph"]), str(data.get("mutation", "")))


class ScriptedEvolution(RegularizedEvolution):
    """Regularized evolution that proposes a given sequence instead of sampling.

    The engine keeps its population bookkeeping (aging, reports) as usual;
    only the three random choices are scripted: a cold start takes the next
    scripted cold-start graph, a parent selection returns the scripted
    parent (which must be in the population: with the same population size,
    aging and sequential trials it always is) and a child takes the scripted
    graph. Trial seeds depend on the search seed and the individual id only,
    so a replay with the same seed trains every individual from the same seed.

    Raises:
        RuntimeError: when the engine asks for something the script does not
            hold next (a cold start where the original had a child, say).
    """

    def __init__(self, config: EvolutionConfig, script: Sequence[Proposal]) -> None:
        super().__init__(config)
        self._script = list(script)
        self._next = 0
        self._lock = threading.Lock()

    def _peek(self) -> Proposal:
        if self._next >= len(self._script):
            raise RuntimeError(f"replay script exhausted after {len(self._script)} proposals")
        return self._script[self._next]

    def _take(self, cold: bool) -> Mutation:
        item = self._peek()
        if (item.parent_id is None) != cold:
            raise RuntimeError(
                f"replay diverged at proposal {self._next} (individual {item.indiv_id}): the engine asks "
                f"for a {'cold start' if cold else 'child'}, the script holds "
                f"{'a cold start' if item.parent_id is None else 'a child'}")
        self._next += 1
        operator, _, detail = item.mutation.partition("(")
        return Mutation(item.graph, operator, detail[:-1] if detail.endswith(")") else detail)

    def propose_initial(self) -> Mutation:
        return self._take(cold=True)

    def select_parent(self) -> Individual | None:
        if len(self) == 0:
            return None
        want = self._peek().parent_id
        for member in self.population:
            if member.indiv_id == want:
                return member
        raise RuntimeError(f"replay diverged: scripted parent {want} is not in the population "
                           f"{[m.indiv_id for m in self.population]}")

    def make_child(self, parent: Individual) -> Mutation:
        return self._take(cold=False)

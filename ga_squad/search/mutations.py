"""Mutation operators over reader graphs.

Each operator is a small class (optuna's ``_mutations`` style): parameters are
checked in ``__init__``, the random generator is passed in, and ``apply``
returns a new valid graph or ``None`` when the operator has nothing to act on.
:class:`Mutator` picks among operators, keeps the hidden-layer count within
bounds and retries a bounded number of times, so a mutation always yields a
valid graph and the same seed always yields the same graph.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from ga_squad.search.graph import HIDDEN_TYPES, Graph, GraphError, Layer, LayerType

__all__ = [
    "AddSkip",
    "Identity",
    "InsertLayer",
    "Mutation",
    "MutationOperator",
    "Mutator",
    "RemoveLayer",
    "RemoveSkip",
    "default_operators",
]


@dataclass(frozen=True)
class Mutation:
    """The outcome of one mutation: the new graph and what was done, for the journal."""

    graph: Graph
    operator: str
    detail: str


class MutationOperator:
    """Base class: ``name`` for logs, ``delta`` = change in hidden-layer count."""

    name = "operator"
    delta = 0

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        raise NotImplementedError


class Identity(MutationOperator):
    """Keep the architecture; the child continues training the parent's weights."""

    name = "identity"

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        return Mutation(graph, self.name, "")


def _try(build: Callable[[], Graph]) -> Graph | None:
    try:
        return build()
    except GraphError:
        return None


def _insert_before(layers: Sequence[Layer], anchor: str, new: Layer) -> list[Layer]:
    """Place ``new`` just before ``anchor``: keeps the stored order readable."""
    out: list[Layer] = []
    for layer in layers:
        if layer.id == anchor:
            out.append(new)
        out.append(layer)
    return out


class InsertLayer(MutationOperator):
    """Insert a hidden layer of ``kind`` on an edge ``u -> v`` (v's input slot).

    An attention layer also needs a memory: a layer that is not downstream of
    ``v`` (no cycle), preferably on the other stream.
    """

    delta = 1

    def __init__(self, kind: LayerType) -> None:
        if kind not in HIDDEN_TYPES:
            raise ValueError(f"cannot insert a layer of type {kind.value!r}")
        self.kind = kind
        self.name = f"insert_{kind.value}"

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        slots = [
            (layer.id, pos)
            for layer_id in graph.topological_order
            for layer in (graph[layer_id],)
            for pos in range(len(layer.inputs))
        ]
        rng.shuffle(slots)
        for consumer_id, pos in slots:
            consumer = graph[consumer_id]
            source = graph[consumer.inputs[pos]]
            new_id = graph.new_layer_id()
            inputs: tuple[str, ...] = (source.id,)
            if self.kind is LayerType.ATTENTION:
                memory = self._pick_memory(graph, consumer_id, source, rng)
                if memory is None:
                    continue
                inputs = (source.id, memory)
            new = Layer(new_id, self.kind, source.stream, inputs)
            rewired = list(consumer.inputs)
            rewired[pos] = new_id
            updated = Layer(consumer.id, consumer.type, consumer.stream, tuple(rewired), consumer.skips)
            layers = [updated if l.id == consumer_id else l for l in graph.layers]
            result = _try(lambda: graph.replace_layers(_insert_before(layers, consumer_id, new)))
            if result is not None:
                return Mutation(result, self.name, f"{source.id}->[{new_id}]->{consumer_id}")
        return None

    @staticmethod
    def _pick_memory(graph: Graph, consumer_id: str, source: Layer, rng: random.Random) -> str | None:
        banned = graph.descendants(consumer_id) | {consumer_id, source.id}
        candidates = [
            i for i in graph.topological_order
            if i not in banned and graph[i].type is not LayerType.OUTPUT
        ]
        other = [i for i in candidates if graph[i].stream is not source.stream]
        pool = other or candidates
        return rng.choice(pool) if pool else None


class RemoveLayer(MutationOperator):
    """Remove a hidden layer of ``kind``; its consumers read its first input instead."""

    delta = -1

    def __init__(self, kind: LayerType) -> None:
        if kind not in HIDDEN_TYPES:
            raise ValueError(f"cannot remove a layer of type {kind.value!r}")
        self.kind = kind
        self.name = f"remove_{kind.value}"

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        victims = [l.id for l in graph.hidden_layers if l.type is self.kind]
        rng.shuffle(victims)
        for victim_id in victims:
            result = _try(lambda: graph.replace_layers(_bypass(graph, victim_id)))
            if result is not None:
                return Mutation(result, self.name, victim_id)
        return None


def _bypass(graph: Graph, victim_id: str) -> list[Layer]:
    replacement = graph[victim_id].inputs[0]
    layers: list[Layer] = []
    for layer in graph.layers:
        if layer.id == victim_id:
            continue
        inputs = tuple(replacement if r == victim_id else r for r in layer.inputs)
        skips: list[str] = []
        for ref in (replacement if r == victim_id else r for r in layer.skips):
            if ref not in skips and (not inputs or ref != inputs[0]):
                skips.append(ref)
        layers.append(Layer(layer.id, layer.type, layer.stream, inputs, tuple(skips)))
    return layers


class AddSkip(MutationOperator):
    """Add a skip edge ``s -> v`` from an upstream layer of the same stream."""

    name = "add_skip"

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        pairs = []
        for target_id in graph.topological_order:
            target = graph[target_id]
            if target.type is LayerType.INPUT:
                continue
            banned = graph.descendants(target_id) | {target_id, target.inputs[0], *target.skips}
            pairs.extend(
                (source_id, target_id)
                for source_id in graph.topological_order
                if source_id not in banned
                and graph[source_id].stream is target.stream
                and graph[source_id].type is not LayerType.OUTPUT
            )
        return _first_valid_edge_edit(graph, rng, pairs, self.name, add=True)


class RemoveSkip(MutationOperator):
    """Remove one skip edge."""

    name = "remove_skip"

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        pairs = [(s, l.id) for l in graph.layers for s in l.skips]
        return _first_valid_edge_edit(graph, rng, pairs, self.name, add=False)


def _first_valid_edge_edit(
    graph: Graph, rng: random.Random, pairs: list[tuple[str, str]], name: str, add: bool
) -> Mutation | None:
    """Add or remove one skip edge from ``pairs`` (tried in random order) giving a valid graph.

    Removing a skip can cut the question off an output, and adding one can be
    refused by validation, so candidates are tried until one validates.
    """
    rng.shuffle(pairs)
    for source_id, target_id in pairs:
        target = graph[target_id]
        skips = (*target.skips, source_id) if add else tuple(s for s in target.skips if s != source_id)
        updated = Layer(target.id, target.type, target.stream, target.inputs, skips)
        result = _try(lambda: graph.replace_layers(updated if l.id == target_id else l for l in graph.layers))
        if result is not None:
            return Mutation(result, name, f"{source_id}->{target_id}")
    return None


def default_operators() -> dict[MutationOperator, float]:
    """Every operator with its selection weight (identity less likely: it explores nothing)."""
    ops: dict[MutationOperator, float] = {Identity(): 0.5}
    for kind in (LayerType.RNN, LayerType.ATTENTION, LayerType.SELF_ATTENTION):
        ops[InsertLayer(kind)] = 1.0
        ops[RemoveLayer(kind)] = 1.0
    ops[AddSkip()] = 1.0
    ops[RemoveSkip()] = 1.0
    return ops


class Mutator:
    """Applies one randomly chosen operator, within hidden-layer bounds.

    Args:
        min_layers: Fewest hidden layers a result may have (>= 1: a reader
            needs an attention layer to see the question).
        max_layers: Most hidden layers a result may have.
        operators: Operator -> weight; defaults to :func:`default_operators`.
        max_tries: Operators tried before falling back to identity.
    """

    def __init__(
        self,
        min_layers: int = 1,
        max_layers: int = 12,
        operators: Mapping[MutationOperator, float] | None = None,
        max_tries: int = 20,
    ) -> None:
        if min_layers < 1:
            raise ValueError(f"min_layers must be >= 1 (a reader needs an attention layer), got {min_layers}")
        if max_layers < min_layers:
            raise ValueError(f"max_layers ({max_layers}) must be >= min_layers ({min_layers})")
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}")
        self.min_layers = min_layers
        self.max_layers = max_layers
        self.operators = dict(operators if operators is not None else default_operators())
        if not self.operators or any(w < 0 for w in self.operators.values()):
            raise ValueError("operators need non-negative weights and at least one entry")
        self.max_tries = max_tries

    def mutate(self, graph: Graph, rng: random.Random) -> Mutation:
        """One mutation of ``graph``; identity when no operator applies."""
        count = len(graph.hidden_layers)
        allowed = {
            op: w for op, w in self.operators.items()
            if w > 0 and (op.delta >= 0 or count + op.delta >= self.min_layers)
            and (op.delta <= 0 or count + op.delta <= self.max_layers)
        }
        for _ in range(self.max_tries):
            if not allowed:
                break
            ops = list(allowed)
            op = rng.choices(ops, weights=[allowed[o] for o in ops])[0]
            result = op.apply(graph, rng)
            if result is not None:
                return result
            del allowed[op]  # nothing to act on: no point drawing it again.
        return Mutation(graph, "identity", "no operator applied")

    def mutate_many(self, graph: Graph, rng: random.Random, steps: int) -> Mutation:
        """A chain of ``steps`` mutations (used to diversify the initial population)."""
        ops: list[str] = []
        for _ in range(steps):
            step = self.mutate(graph, rng)
            graph = step.graph
            ops.append(step.operator if not step.detail else f"{step.operator}({step.detail})")
        return Mutation(graph, "chain", "; ".join(ops))

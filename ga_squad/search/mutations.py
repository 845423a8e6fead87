"""Mutation operators over reader graphs.

Each operator is a small class (optuna's ``_mutations`` style): parameters are
checked in ``__init__``, the random generator is passed in, and ``apply``
returns a new valid graph or ``None`` when the operator has nothing to act on.
:class:`Mutator` picks among operators, keeps the hidden-layer count within
bounds and retries a bounded number of times, so a mutation always yields a
valid graph and the same seed always yields the same graph.

**Function preservation** (network morphisms: Net2Net, Chen et al. 2016;
Elsken et al. 2017). A child keeps the uid of every layer it keeps
(:meth:`~ga_squad.search.graph.Graph.shared_ids`), so it inherits all of
them, and the growing operators are exact morphisms: before training the
child computes its parent's begin/end logits (up to float rounding).

* ``insert_*`` adds a layer with ``residual=True``: ``y = x + g * f(x)``
  with the scalar gate ``g = 0`` at birth, so ``y = x``. ``f`` gets no
  gradient on the first step but ``g`` does (``dL/dg = dL/dy . f(x)``), and
  once ``g`` moves so does ``f``.
* ``add_skip`` adds a gated skip (``gated_skips``): ``x + g * s``, ``g = 0``
  at birth.
* ``feature_*`` adding a feature keeps the input layer's uid; the warm
  start maps the projection's rows and gives the new feature's rows zeros
  (:func:`ga_squad.reader.warm_start.load_shared`).
* ``widen_rnn`` doubles a recurrent layer's width; the warm start copies
  its units and splits their outgoing weights (Net2Wider,
  :mod:`ga_squad.reader.net2wider`), so the child is exact.
* ``pointer_conditioned`` (from linear) is exact: the end pointer's scorer
  over ``[x, h]`` keeps the linear pointer's rows for ``x`` and gets zero
  rows for the new BiRNN's ``h``.
* ``pointer_bilinear`` over a new ``pool`` is not exact (a bilinear score
  cannot equal a linear one); neither is ``switch_cell`` (a GRU's weights do
  not fit an LSTM): both layers keep their uid and start fresh, every other
  layer is inherited. ``pointer_linear`` from conditioned keeps the ``x``
  rows and drops the BiRNN (approximate).

Shrinking operators are approximate: ``remove_*`` drops a layer (and its
skips), ``remove_skip`` a skip, a removed feature its projection rows,
``narrow_rnn`` the second half of a recurrent layer's units; every
other layer is inherited unchanged, so what is preserved is the rest of the
network's weights, and the result is exact only where the removed part
contributed nothing (a gate still at zero).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ga_squad.search.graph import HIDDEN_TYPES, Graph, GraphError, Layer, LayerType, Stream
from ga_squad.search.vocabulary import (
    BILINEAR,
    CELLS,
    CONDITIONED,
    FEATURES,
    LINEAR,
    PASSAGE_ONLY_FEATURES,
    POINTERS,
    WIDTHS,
)

__all__ = [
    "AddSkip",
    "Identity",
    "InsertLayer",
    "SetPointer",
    "SetWidth",
    "SwitchCell",
    "ToggleFeature",
    "Mutation",
    "MutationOperator",
    "RemoveLayer",
    "RemoveSkip",
]


@dataclass(frozen=True)
class Mutation:
    """The outcome of one mutation: the new graph and what was done, for the journal."""

    graph: Graph
    operator: str
    detail: str


class MutationOperator:
    """Base class: ``name`` for logs, ``delta`` = change in hidden-layer count.

    ``exact`` says that every child the operator returns computes its parent's
    function at birth (see the module docstring); ``search_space.exact_only``
    keeps only such operators.
    """

    name = "operator"
    delta = 0
    exact = False

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        raise NotImplementedError


class Identity(MutationOperator):
    """Keep the architecture; the child continues training the parent's weights."""

    name = "identity"
    exact = True

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

    An attention or bidaf layer also needs a memory: a sequence layer that is
    not downstream of ``v`` (no cycle), preferably on the other stream.
    """

    delta = 1
    exact = True

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
            if graph[layer.inputs[pos]].stream is not Stream.SUMMARY
        ]
        rng.shuffle(slots)
        for consumer_id, pos in slots:
            consumer = graph[consumer_id]
            source = graph[consumer.inputs[pos]]
            new_id = graph.new_layer_id()
            inputs: tuple[str, ...] = (source.id,)
            if self.kind in (LayerType.ATTENTION, LayerType.BIDAF):
                memory = self._pick_memory(graph, consumer_id, source, rng)
                if memory is None:
                    continue
                inputs = (source.id, memory)
            salt = f"{self.name}:{new_id}:{','.join(graph.uid(i) for i in inputs)}:{graph.uid(consumer_id)}:{pos}"
            new = Layer(new_id, self.kind, source.stream, inputs, uid=graph.new_uid(salt), residual=True)
            rewired = list(consumer.inputs)
            rewired[pos] = new_id
            updated = consumer.replace(inputs=tuple(rewired))
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
            and graph[i].stream is not Stream.SUMMARY
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
        gated: list[str] = []
        for old in layer.skips:
            ref = replacement if old == victim_id else old
            if ref not in skips and (not inputs or ref != inputs[0]):
                skips.append(ref)
                if old in layer.gated_skips:
                    gated.append(ref)
        layers.append(layer.replace(inputs=inputs, skips=tuple(skips), gated_skips=tuple(gated)))
    return layers


class AddSkip(MutationOperator):
    """Add a skip edge ``s -> v`` from an upstream layer of the same stream."""

    name = "add_skip"
    exact = True

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        pairs = []
        for target_id in graph.topological_order:
            target = graph[target_id]
            if target.type in (LayerType.INPUT, LayerType.POOL):
                continue
            banned = graph.descendants(target_id) | {target_id, target.inputs[0], *target.skips}
            pairs.extend(
                (source_id, target_id)
                for source_id in graph.topological_order
                if source_id not in banned
                and graph[source_id].stream is target.stream
                and graph[source_id].type is not LayerType.OUTPUT
                and graph[source_id].stream is not Stream.SUMMARY
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
        if add:
            updated = target.replace(skips=(*target.skips, source_id), gated_skips=(*target.gated_skips, source_id))
        else:
            updated = target.replace(skips=tuple(s for s in target.skips if s != source_id),
                                     gated_skips=tuple(s for s in target.gated_skips if s != source_id))
        result = _try(lambda: graph.replace_layers(updated if l.id == target_id else l for l in graph.layers))
        if result is not None:
            return Mutation(result, name, f"{source_id}->{target_id}")
    return None


class ToggleFeature(MutationOperator):
    """Add ``feature`` to an input layer that lacks it, or remove it from one that has it.

    With ``add_only`` it only adds (an exact morphism: the new feature's
    projection rows start at zero) and finds nothing to do where every input
    already has the feature.
    """

    def __init__(self, feature: str, add_only: bool = False) -> None:
        if feature not in FEATURES:
            raise ValueError(f"unknown feature {feature!r}; expected one of {list(FEATURES)}")
        self.feature = feature
        self.name = f"feature_{feature}"
        self.exact = add_only

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        streams = (Stream.PASSAGE,) if self.feature in PASSAGE_ONLY_FEATURES else (Stream.PASSAGE, Stream.QUESTION)
        targets = [name for name in ("question", "passage") if graph[name].stream in streams]
        rng.shuffle(targets)
        for target_id in targets:
            target = graph[target_id]
            has = self.feature in target.features
            if has and self.exact:
                continue
            features = tuple(f for f in target.features if f != self.feature) if has \
                else (*target.features, self.feature)
            updated = target.replace(features=features)
            result = _try(lambda: graph.replace_layers(updated if l.id == target_id else l for l in graph.layers))
            if result is not None:
                return Mutation(result, self.name, f"{'-' if has else '+'}{self.feature}@{target_id}")
        return None


class SwitchCell(MutationOperator):
    """Switch one recurrent layer's cell (GRU <-> LSTM; no cell named counts as GRU)."""

    name = "switch_cell"

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        rnns = [l.id for l in graph.hidden_layers if l.type is LayerType.RNN]
        rng.shuffle(rnns)
        for rnn_id in rnns:
            current = graph[rnn_id].cell or CELLS[0]
            cell = next(c for c in CELLS if c != current)
            updated = graph[rnn_id].replace(cell=cell)
            result = _try(lambda: graph.replace_layers(updated if l.id == rnn_id else l for l in graph.layers))
            if result is not None:
                return Mutation(result, self.name, f"{rnn_id}:{cell}")
        return None


class SetWidth(MutationOperator):
    """Double (``widen_rnn``) or halve (``narrow_rnn``) one recurrent layer's width within :data:`WIDTHS`.

    The layer keeps its uid: its weights are resized, not restarted (exactly
    when widening, see the module docstring).
    """

    def __init__(self, widen: bool) -> None:
        self.widen = widen
        self.name = "widen_rnn" if widen else "narrow_rnn"
        self.exact = widen

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        rnns = [l.id for l in graph.hidden_layers if l.type is LayerType.RNN]
        rng.shuffle(rnns)
        for rnn_id in rnns:
            width = graph[rnn_id].width
            new = width * 2 if self.widen else width // 2
            if new not in WIDTHS:
                continue
            updated = graph[rnn_id].replace(width=new)
            result = _try(lambda: graph.replace_layers(updated if l.id == rnn_id else l for l in graph.layers))
            if result is not None:
                return Mutation(result, self.name, f"{rnn_id}:x{width}->x{new}")
        return None


class SetPointer(MutationOperator):
    """Turn one pointer into a ``kind`` pointer.

    A bilinear pointer reads a question summary: an existing ``pool`` layer
    or, if there is none, a new one over a random question-stream layer. A
    pool that no pointer reads any more is removed with the last one.

    With ``exact_only`` only the exact edit is left: a linear end pointer
    becomes a conditioned one (every other kind then finds nothing to do).
    """

    def __init__(self, kind: str, exact_only: bool = False) -> None:
        if kind not in POINTERS:
            raise ValueError(f"unknown pointer kind {kind!r}; expected one of {list(POINTERS)}")
        self.kind = kind
        self.name = f"pointer_{kind}"
        self.exact = exact_only and kind == CONDITIONED
        self._sources = (LINEAR,) if exact_only else POINTERS

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        targets = [o for o in ("begin", "end") if graph[o].pointer != self.kind
                   and graph[o].pointer in self._sources
                   and (self.kind != CONDITIONED or o == "end")]
        rng.shuffle(targets)
        for target_id in targets:
            result = _try(lambda: self._rewire(graph, target_id, rng))
            if result is not None:
                return Mutation(result, self.name, f"{target_id}:{graph[target_id].pointer}->{self.kind}")
        return None

    def _rewire(self, graph: Graph, target_id: str, rng: random.Random) -> Graph:
        target = graph[target_id]
        layers = list(graph.layers)
        inputs: tuple[str, ...] = (target.inputs[0],)
        if self.kind == BILINEAR:
            pools = [l.id for l in graph.layers if l.type is LayerType.POOL]
            if pools:
                pool_id = rng.choice(pools)
            else:
                sources = [i for i in graph.topological_order if graph[i].stream is Stream.QUESTION]
                pool_id = graph.new_layer_id()
                source = rng.choice(sources)
                uid = graph.new_uid(f"pool:{pool_id}:{graph.uid(source)}")
                layers = _insert_before(layers, target_id,
                                        Layer(pool_id, LayerType.POOL, Stream.SUMMARY, (source,), uid=uid))
            inputs = (target.inputs[0], pool_id)
        updated = target.replace(inputs=inputs, pointer=self.kind)
        layers = [updated if l.id == target_id else l for l in layers]
        # Drop a pool that nothing reads any more (it would dangle).
        read = {r for l in layers for r in l.inputs}
        layers = [l for l in layers if l.type is not LayerType.POOL or l.id in read]
        return graph.replace_layers(layers)

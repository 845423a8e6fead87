"""Graph encoding of a SQuAD reader: a validated, immutable DAG of layers.

A reader has two inputs (the ``question`` and ``passage`` token streams), two
outputs (the ``begin`` and ``end`` pointers over the passage) and hidden layers
in between. Every layer carries a Merkle-style **hash id** computed from its
type, its stream and the hash ids of its inputs, so a layer's id changes if and
only if something upstream of it changes. Weight sharing between a parent and
a child trial is a match on these ids: equal id, equal function of the inputs,
so the parent's trained weights are a meaningful starting point.

This module imports neither TensorFlow nor NNI (see STYLE.md, nasbench's
``model_spec``/``graph_util`` split): the tuner never loads TensorFlow, and the
tuner and the trial share this one copy of the graph logic.

Layer semantics (the model builder implements them):

* ``input``: token embeddings of its stream projected to the hidden size.
* ``rnn``: bidirectional recurrent layer over one input.
* ``self_attention``: multi-head self-attention over one input (residual).
* ``attention``: ``inputs[0]`` (the stream it updates) attends to
  ``inputs[1]`` (the memory, either stream); the output is on the stream of
  ``inputs[0]``.
* ``bidaf``: BiDAF's bidirectional attention flow: ``inputs[0]`` (the
  context ``c``) and ``inputs[1]`` (the query ``q``) give context-to-query
  ``a`` and query-to-context ``b`` attention, fused as ``[c, a, c*a, c*b]``;
  the output is on the stream of ``inputs[0]``.
* ``pool``: a self-attentive summary (one vector) of a question-stream
  layer, on the ``summary`` stream; only a bilinear pointer reads it.
* ``output``: a pointer (``begin`` or ``end``) scoring each passage position
  of its passage-stream input; its ``pointer`` kind says how (see
  :mod:`ga_squad.search.vocabulary`): ``linear`` (one input), ``bilinear``
  (a second input, the question summary) or, for ``end`` only,
  ``conditioned`` on the begin distribution.
* **attributes**: an ``input`` layer's ``features`` (extra per-token inputs),
  an ``rnn`` layer's ``cell`` and ``width``; all are part of the hash id.
* **skip edges**: ``skips`` lists extra same-stream layers whose outputs are
  added to the layer's first input before the layer is applied (residual
  shortcuts across several layers).

Identity: every layer has a ``uid`` that mutations keep when they rewire it
(the hash id changes, the uid does not) and that is new when a mutation
creates a layer. Weights are stored and inherited by uid
(:meth:`Graph.weight_ids`), so a child inherits every layer it shares with
its parent whose weight shapes match (:meth:`Graph.shared_ids`), not only
the layers whose whole upstream is unchanged. A layer built without a uid
(the base reader, the presets, hand-built graphs) gets its hash id as uid.
The gated residual (``residual``) and gated skips (``gated_skips``) make
growing mutations function-preserving (:mod:`ga_squad.search.mutations`). A
change of an ``rnn`` layer's ``width`` keeps its uid: its weights are mapped
by a Net2Wider warm start, not restarted.

The document (:meth:`Graph.to_dict`) carries ``format`` and ``version``
(:data:`GRAPH_VERSION`); a document of another format or version is refused
with a :class:`GraphError` naming it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ga_squad.search.layer import (  # re-exported: the graph's public vocabulary
    ARITY,
    EMBEDDING_HASH,
    HASH_LENGTH,
    HIDDEN_TYPES,
    INPUT_IDS,
    OUTPUT_IDS,
    POINTER_ARITY,
    SEQUENCE_STREAMS,
    GraphError,
    Layer,
    LayerType,
    Stream,
    canonical_hash,
    layer_label,
)
from ga_squad.search.graph_rules import (
    check_attributes,
    check_reachability,
    check_references,
    check_roles,
    check_streams,
    check_unique_hashes,
    check_unique_uids,
    dependencies,
    topological_order,
)
from ga_squad.search.vocabulary import CONDITIONED, LINEAR

__all__ = [
    "ARITY", "EMBEDDING_HASH", "GRAPH_FORMAT", "GRAPH_VERSION", "HASH_LENGTH", "HIDDEN_TYPES", "INPUT_IDS",
    "OUTPUT_IDS", "POINTER_ARITY", "SEQUENCE_STREAMS", "Graph", "GraphError", "Layer",
    "LayerType", "Stream", "base_reader", "canonical_hash", "layer_label",
]

GRAPH_FORMAT = "ga-squad-graph"
GRAPH_VERSION = 4


@dataclass(frozen=True)
class Graph:
    """A valid reader graph. Validated at construction; never mutated.

    Mutations build new graphs (see :mod:`ga_squad.search.mutations`).
    """

    layers: tuple[Layer, ...]
    _by_id: dict[str, Layer] = field(init=False, repr=False, compare=False)
    _order: tuple[str, ...] = field(init=False, repr=False, compare=False)
    _hashes: dict[str, str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        layers = tuple(self.layers)
        object.__setattr__(self, "layers", layers)
        by_id: dict[str, Layer] = {}
        for layer in layers:
            if layer.id in by_id:
                raise GraphError(f"duplicate layer id {layer.id!r}")
            by_id[layer.id] = layer
        object.__setattr__(self, "_by_id", by_id)
        check_roles(by_id)
        check_attributes(by_id)
        check_references(by_id)
        order = topological_order(layers, by_id)
        object.__setattr__(self, "_order", order)
        check_streams(by_id)
        check_reachability(by_id, order)
        hashes = _compute_hashes(by_id, order)
        check_unique_hashes(hashes)
        object.__setattr__(self, "_hashes", hashes)
        # Identity: a layer built without a uid (base reader, presets) gets its hash id.
        layers = tuple(l if l.uid is not None else l.replace(uid=hashes[l.id]) for l in layers)
        object.__setattr__(self, "layers", layers)
        object.__setattr__(self, "_by_id", {l.id: l for l in layers})
        check_unique_uids(layers)

    # --- queries -----------------------------------------------------------
    def __getitem__(self, layer_id: str) -> Layer:
        return self._by_id[layer_id]

    def __contains__(self, layer_id: object) -> bool:
        return layer_id in self._by_id

    @property
    def topological_order(self) -> tuple[str, ...]:
        """Layer ids, every layer after all of its inputs and skips (deterministic)."""
        return self._order

    @property
    def hidden_layers(self) -> tuple[Layer, ...]:
        return tuple(self._by_id[i] for i in self._order if self._by_id[i].type in HIDDEN_TYPES)

    def hash_id(self, layer_id: str) -> str:
        return self._hashes[layer_id]

    @property
    def hash_ids(self) -> dict[str, str]:
        """Layer id -> hash id, in topological order."""
        return dict(self._hashes)

    def uid(self, layer_id: str) -> str:
        """The persistent identity of ``layer_id`` (the id its weights are stored under)."""
        uid = self._by_id[layer_id].uid
        assert uid is not None  # filled in at construction
        return uid

    @property
    def uids(self) -> dict[str, str]:
        """Layer id -> uid, in topological order."""
        return {i: self.uid(i) for i in self._order}

    def skip_gate_id(self, target_id: str, source_id: str) -> str:
        """Weight id of the gate on the skip edge ``source -> target`` (both ends' identities)."""
        return canonical_hash({"skip_gate": [self.uid(target_id), self.uid(source_id)]})

    def weight_groups(self) -> dict[str, tuple[Any, ...]]:
        """Weight id -> signature of the weights stored under it.

        A layer's weights are stored under its uid; its signature is what fixes
        their names and shapes (type, cell, pointer kind, residual gate; an
        input's features change only its projection's rows, which a warm start
        maps row by row, and an rnn's width its units, which a warm start
        duplicates or truncates). A gated skip's scalar gate has its own id.
        """
        groups: dict[str, tuple[Any, ...]] = {EMBEDDING_HASH: ("embedding",)}
        for layer_id in self._order:
            layer = self._by_id[layer_id]
            # A conditioned pointer's scorer extends a linear one's (rows for its extra
            # BiRNN, which a warm start sets to zero): the two share weights.
            pointer = "linear" if layer.pointer == CONDITIONED else layer.pointer
            groups[self.uid(layer_id)] = (layer.type.value, layer.stream.value, layer.cell,
                                          pointer, layer.residual)
            for source in layer.gated_skips:
                groups[self.skip_gate_id(layer_id, source)] = ("skip_gate",)
        return groups

    def weight_ids(self) -> frozenset[str]:
        """Every id under which a model of this graph stores weights."""
        return frozenset(self.weight_groups())

    def shared_ids(self, other: Graph) -> frozenset[str]:
        """Weight ids a child (``self``) inherits from ``other``: same identity, same weight shapes.

        A rewired layer keeps its uid and is inherited; a layer whose cell
        changed, or a pointer turned bilinear or back, keeps its uid but not its
        weight shapes, so it starts fresh.
        """
        mine, theirs = self.weight_groups(), other.weight_groups()
        return frozenset(i for i, sig in mine.items() if theirs.get(i) == sig)

    def new_uid(self, salt: str) -> str:
        """A fresh uid for a layer a mutation creates: deterministic, unique in this graph.

        Derived from every uid of this (the parent) graph and ``salt`` (what
        the mutation creates), so a replay gives the same uid and no layer of
        the parent can share it.
        """
        taken = {l.uid for l in self.layers} | {EMBEDDING_HASH}
        n = 0
        while True:
            uid = canonical_hash({"new_layer": salt, "n": n, "parent": sorted(u for u in taken if u)})
            if uid not in taken:
                return uid
            n += 1

    def fingerprint(self) -> str:
        """Whole-graph hash, independent of layer names: finds duplicate readers."""
        return canonical_hash({"outputs": [self._hashes[o] for o in OUTPUT_IDS]})

    def consumers(self, layer_id: str) -> tuple[str, ...]:
        """Layers that read ``layer_id`` as an input or a skip, in topological order."""
        return tuple(i for i in self._order if layer_id in dependencies(self._by_id[i]))

    def descendants(self, layer_id: str) -> frozenset[str]:
        """Layers downstream of ``layer_id`` (excluding itself)."""
        seen: set[str] = set()
        frontier = [layer_id]
        while frontier:
            for consumer in self.consumers(frontier.pop()):
                if consumer not in seen:
                    seen.add(consumer)
                    frontier.append(consumer)
        return frozenset(seen)

    def new_layer_id(self) -> str:
        """A fresh local id (``h<n>``) not used in this graph."""
        n = len(self.layers)
        while f"h{n}" in self._by_id:
            n += 1
        return f"h{n}"

    # --- serialisation -----------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        # Stored order, not topological order: the topological order (and so
        # every mutation's choices) breaks ties by stored order, so writing it
        # keeps ``from_dict(g.to_dict()) == g`` and seeded replays identical.
        return {
            "format": GRAPH_FORMAT,
            "version": GRAPH_VERSION,
            "layers": [layer.to_dict() for layer in self.layers],
            "hash_ids": {i: self._hashes[i] for i in self._order},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Graph:
        """Parse and validate. Stored ``hash_ids`` (if any) must match the recomputed ones."""
        if not isinstance(data, Mapping):
            raise GraphError(f"graph must be a JSON object, got {type(data).__name__}")
        if data.get("format", GRAPH_FORMAT) != GRAPH_FORMAT:
            raise GraphError(f"not a ga-squad graph: format {data.get('format')!r}")
        version = data.get("version", GRAPH_VERSION)
        if version != GRAPH_VERSION:
            raise GraphError(f"graph format version {version!r} is not supported (this reads version {GRAPH_VERSION})")
        raw_layers = data.get("layers")
        if not isinstance(raw_layers, list):
            raise GraphError("graph lacks a 'layers' list")
        graph = cls(tuple(Layer.from_dict(item) for item in raw_layers))
        stored = data.get("hash_ids")
        if stored is not None and dict(stored) != graph.hash_ids:
            raise GraphError("stored hash_ids do not match the layers (edited or from another version)")
        return graph

    @classmethod
    def from_json(cls, text: str) -> Graph:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise GraphError(f"graph is not valid JSON: {exc}") from None
        return cls.from_dict(data)

    def replace_layers(self, layers: Iterable[Layer]) -> Graph:
        return Graph(tuple(layers))


# --- identity ---------------------------------------------------------------
def _compute_hashes(by_id: Mapping[str, Layer], order: tuple[str, ...]) -> dict[str, str]:
    hashes: dict[str, str] = {}
    for layer_id in order:
        layer = by_id[layer_id]
        if layer.type is LayerType.INPUT:
            payload: dict[str, Any] = {"type": "input", "name": layer.id}
        else:
            payload = {
                "type": layer.type.value,
                "stream": layer.stream.value,
                "inputs": [hashes[r] for r in layer.inputs],
                # Skips are summed: their order carries no meaning.
                "skips": sorted(hashes[r] for r in layer.skips),
            }
            if layer.type is LayerType.OUTPUT:
                payload["name"] = layer.id  # begin and end pointers are different layers.
        # Attributes at their defaults stay out of the payload: a layer's hash
        # id depends only on the attributes it sets.
        if layer.features:
            payload["features"] = list(layer.features)
        if layer.cell is not None:
            payload["cell"] = layer.cell
        if layer.width != 1:
            payload["width"] = layer.width
        if layer.pointer != LINEAR:
            payload["pointer"] = layer.pointer
        if layer.pointer == CONDITIONED:
            payload["condition"] = hashes["begin"]
        if layer.residual:
            payload["residual"] = True
        if layer.gated_skips:
            payload["gated_skips"] = sorted(hashes[r] for r in layer.gated_skips)
        hashes[layer_id] = canonical_hash(payload)
    return hashes


# --- the base reader ---------------------------------------------------------
def base_reader() -> Graph:
    """The seed architecture: BiRNN encoders, passage-to-question attention, BiRNN modelling.

    Every initial individual is a mutation of this graph.
    """
    q, p = Stream.QUESTION, Stream.PASSAGE
    return Graph((
        Layer("question", LayerType.INPUT, q),
        Layer("passage", LayerType.INPUT, p),
        Layer("h0", LayerType.RNN, q, ("question",)),
        Layer("h1", LayerType.RNN, p, ("passage",)),
        Layer("h2", LayerType.ATTENTION, p, ("h1", "h0")),
        Layer("h3", LayerType.RNN, p, ("h2",)),
        Layer("begin", LayerType.OUTPUT, p, ("h3",)),
        Layer("end", LayerType.OUTPUT, p, ("h3",)),
    ))

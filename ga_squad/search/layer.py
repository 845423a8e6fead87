"""The parts of a reader graph: layer types, streams, one layer, hash ids.

Split from :mod:`ga_squad.search.graph` (which validates whole graphs and
re-exports everything here); imports neither TensorFlow nor NNI.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ga_squad.search.vocabulary import BILINEAR, CONDITIONED, LINEAR, SHORT

__all__ = [
    "ARITY", "EMBEDDING_HASH", "HASH_LENGTH", "HIDDEN_TYPES", "INPUT_IDS", "OUTPUT_IDS", "POINTER_ARITY",
    "SEQUENCE_STREAMS", "UID_PATTERN", "GraphError", "Layer", "LayerType", "Stream", "canonical_hash", "layer_label",
]

HASH_LENGTH = 16  # hex characters (64 bits): ample for a search of 1e6 layers.
UID_PATTERN = re.compile(rf"[0-9a-f]{{{HASH_LENGTH}}}")


class GraphError(ValueError):
    """A graph encoding is malformed; the message names the offending layer."""


class LayerType(str, enum.Enum):
    INPUT = "input"
    OUTPUT = "output"
    ATTENTION = "attention"
    SELF_ATTENTION = "self_attention"
    RNN = "rnn"
    BIDAF = "bidaf"
    POOL = "pool"


class Stream(str, enum.Enum):
    """Which sequence a layer's output runs along (its length and mask)."""

    QUESTION = "question"
    PASSAGE = "passage"
    SUMMARY = "summary"  # one vector per question (a ``pool`` layer's output)


# Hidden layers: counted against min/max_layers, inserted and removed by
# mutations. A ``pool`` is not one: it exists only for a bilinear pointer,
# and the pointer mutations add and drop it.
HIDDEN_TYPES = frozenset({LayerType.ATTENTION, LayerType.SELF_ATTENTION, LayerType.RNN, LayerType.BIDAF})
ARITY = {
    LayerType.INPUT: 0,
    LayerType.OUTPUT: 1,
    LayerType.ATTENTION: 2,
    LayerType.SELF_ATTENTION: 1,
    LayerType.RNN: 1,
    LayerType.BIDAF: 2,
    LayerType.POOL: 1,
}
POINTER_ARITY = {LINEAR: 1, BILINEAR: 2, CONDITIONED: 1}
SEQUENCE_STREAMS = (Stream.QUESTION, Stream.PASSAGE)
INPUT_IDS = {"question": Stream.QUESTION, "passage": Stream.PASSAGE}
OUTPUT_IDS = ("begin", "end")


def canonical_hash(payload: Mapping[str, Any]) -> str:
    """Deterministic short sha256 of a JSON-serialisable mapping (sorted keys)."""
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:HASH_LENGTH]


# Layers of the model that belong to no graph node (the word/char embeddings
# shared by both streams) get fixed ids so they are shared like any layer
# whose id matches: every reader has them, with the same function.
EMBEDDING_HASH = canonical_hash({"type": "embedding"})


@dataclass(frozen=True)
class Layer:
    """One node of the reader graph.

    Attributes:
        id: Local name, unique within a graph. Not part of the hash: two graphs
            may name the same layer differently and still share its weights.
        type: What the layer computes.
        stream: The stream its output runs along.
        inputs: Ids of its inputs, in order (order matters for attention).
        skips: Ids of same-stream layers added to ``inputs[0]`` (skip edges).
        features: Extra per-token inputs of an ``input`` layer (sorted names
            from :data:`~ga_squad.search.vocabulary.FEATURES`).
        cell: Recurrent cell of an ``rnn`` layer (``gru``/``lstm``), or None
            for the model config's cell.
        pointer: Pointer kind of an ``output`` layer.
        uid: Persistent identity (16 hex characters): kept by every mutation
            that rewires the layer, new when a mutation creates a layer. Not
            part of the hash id; weights are stored and inherited under it.
            None lets :class:`~ga_squad.search.graph.Graph` derive it from the
            hash id (the base reader, presets, hand-built graphs).
        residual: The layer joins through a gated residual branch,
            ``y = x + g * f(x)`` with ``x`` its first input (plus skips) and
            the scalar gate ``g`` zero at birth: an inserted layer starts as
            the identity, so its child computes its parent's function.
        gated_skips: The skips (a subset of ``skips``) added through a scalar
            gate that starts at zero (skip edges added by a mutation);
            other skips are plain sums.
        width: Width multiple of an ``rnn`` layer (one of
            :data:`~ga_squad.search.vocabulary.WIDTHS`): ``width *
            hidden // 2`` units per direction, projected back to ``hidden``
            when above 1.
    """

    id: str
    type: LayerType
    stream: Stream
    inputs: tuple[str, ...] = ()
    skips: tuple[str, ...] = ()
    features: tuple[str, ...] = ()
    cell: str | None = None
    pointer: str = LINEAR
    uid: str | None = None
    residual: bool = False
    gated_skips: tuple[str, ...] = ()
    width: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "features", tuple(sorted(set(self.features))))
        object.__setattr__(self, "gated_skips", tuple(sorted(set(self.gated_skips))))

    def replace(self, **changes: Any) -> Layer:
        """A copy with some fields changed (mutations build layers this way)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "type": self.type.value,
            "stream": self.stream.value,
            "inputs": list(self.inputs),
            "skips": list(self.skips),
        }
        if self.type is LayerType.INPUT:
            out["features"] = list(self.features)
        if self.type is LayerType.RNN:
            out["cell"] = self.cell
        if self.type is LayerType.OUTPUT:
            out["pointer"] = self.pointer
        if self.uid is not None:
            out["uid"] = self.uid
        if self.residual:
            out["residual"] = True
        if self.gated_skips:
            out["gated_skips"] = list(self.gated_skips)
        if self.width != 1:
            out["width"] = self.width
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Layer:
        if not isinstance(data, Mapping):
            raise GraphError(f"layer must be a JSON object, got {type(data).__name__}")
        missing = {"id", "type", "stream"} - set(data)
        if missing:
            raise GraphError(f"layer {data.get('id', '?')!r} lacks field(s) {sorted(missing)}")
        try:
            layer_type = LayerType(data["type"])
        except ValueError:
            raise GraphError(
                f"layer {data['id']!r} has unknown type {data['type']!r}; "
                f"expected one of {[t.value for t in LayerType]}"
            ) from None
        try:
            stream = Stream(data["stream"])
        except ValueError:
            raise GraphError(
                f"layer {data['id']!r} has unknown stream {data['stream']!r}; "
                f"expected one of {[s.value for s in Stream]}"
            ) from None
        inputs = data.get("inputs", [])
        skips = data.get("skips", [])
        features = data.get("features", [])
        gated = data.get("gated_skips", [])
        for name, refs in (("inputs", inputs), ("skips", skips), ("features", features), ("gated_skips", gated)):
            if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
                what = "feature names" if name == "features" else "layer ids"
                raise GraphError(f"layer {data['id']!r}: {name} must be a list of {what}")
        cell = data.get("cell")
        pointer = data.get("pointer", LINEAR)
        uid = data.get("uid")
        if uid is not None and not (isinstance(uid, str) and UID_PATTERN.fullmatch(uid)):
            raise GraphError(f"layer {data['id']!r}: uid must be {HASH_LENGTH} lower-case hex characters, got {uid!r}")
        residual = data.get("residual", False)
        if not isinstance(residual, bool):
            raise GraphError(f"layer {data['id']!r}: residual must be true or false")
        width = data.get("width", 1)
        if isinstance(width, bool) or not isinstance(width, int):
            raise GraphError(f"layer {data['id']!r}: width must be an integer, got {width!r}")
        return cls(str(data["id"]), layer_type, stream, tuple(inputs), tuple(skips),
                   tuple(features), cell, pointer, uid, residual, tuple(gated), width)


def layer_label(layer: Layer) -> str:
    """Short human label: the type plus any non-default attribute (``rnn:lstm``, ``input+em+tf``)."""
    if layer.type is LayerType.INPUT:
        return "+".join(["input", *(SHORT.get(f, f) for f in layer.features)])
    if layer.type is LayerType.RNN:
        return ":".join(["rnn", *([layer.cell] if layer.cell else []), *([f"x{layer.width}"] if layer.width != 1 else [])])
    if layer.type is LayerType.OUTPUT and layer.pointer != LINEAR:
        return f"output:{layer.pointer}"
    return layer.type.value

"""The rules a reader graph must satisfy, checked once when a :class:`~ga_squad.search.graph.Graph` is built.

Each check raises :class:`~ga_squad.search.layer.GraphError` naming the
offending layer, so a bad graph (hand-written, from a mutation, or loaded from
an edited journal) fails at construction, never inside the model compiler. Kept
apart from :mod:`ga_squad.search.graph` (the graph's queries, identity and
JSON form) because these are pure functions of the layers, read in order.
"""

from __future__ import annotations

from collections.abc import Mapping

from ga_squad.search.layer import (
    ARITY,
    EMBEDDING_HASH,
    HIDDEN_TYPES,
    INPUT_IDS,
    OUTPUT_IDS,
    POINTER_ARITY,
    GraphError,
    Layer,
    LayerType,
    Stream,
)
from ga_squad.search.vocabulary import CELLS, CONDITIONED, FEATURES, LINEAR, PASSAGE_ONLY_FEATURES, POINTERS, WIDTHS

__all__ = [
    "check_attributes", "check_reachability", "check_references", "check_roles", "check_streams",
    "check_unique_hashes", "check_unique_uids", "dependencies", "topological_order",
]


def check_roles(by_id: Mapping[str, Layer]) -> None:
    for name, stream in INPUT_IDS.items():
        layer = by_id.get(name)
        if layer is None or layer.type is not LayerType.INPUT:
            raise GraphError(f"graph needs an input layer named {name!r}")
        if layer.stream is not stream:
            raise GraphError(f"input {name!r} must be on stream {stream.value!r}")
    for name in OUTPUT_IDS:
        layer = by_id.get(name)
        if layer is None or layer.type is not LayerType.OUTPUT:
            raise GraphError(f"graph needs an output layer named {name!r}")
    for layer in by_id.values():
        if layer.type is LayerType.INPUT and layer.id not in INPUT_IDS:
            raise GraphError(f"input layer {layer.id!r}: only {sorted(INPUT_IDS)} may be inputs")
        if layer.type is LayerType.OUTPUT and layer.id not in OUTPUT_IDS:
            raise GraphError(f"output layer {layer.id!r}: only {list(OUTPUT_IDS)} may be outputs")
        if layer.type is LayerType.OUTPUT and layer.pointer in POINTER_ARITY:
            want = POINTER_ARITY[layer.pointer]
            if len(layer.inputs) != want:
                needs = "a passage layer and a question summary (pool)" if want == 2 else "a passage layer"
                raise GraphError(
                    f"pointer {layer.id!r} ({layer.pointer}) takes {want} input(s) ({needs}), "
                    f"got {len(layer.inputs)}"
                )
        elif layer.type is not LayerType.OUTPUT:
            want = ARITY[layer.type]
            if len(layer.inputs) != want:
                raise GraphError(
                    f"layer {layer.id!r} ({layer.type.value}) takes {want} input(s), "
                    f"got {len(layer.inputs)}"
                )
        if layer.type in (LayerType.INPUT, LayerType.POOL) and layer.skips:
            raise GraphError(f"{layer.type.value} layer {layer.id!r} cannot have skip edges")


def check_attributes(by_id: Mapping[str, Layer]) -> None:
    """Attributes only where they mean something, with known values."""
    for layer in by_id.values():
        if layer.features and layer.type is not LayerType.INPUT:
            raise GraphError(f"layer {layer.id!r} ({layer.type.value}) cannot have input features")
        for feature in layer.features:
            if feature not in FEATURES:
                raise GraphError(
                    f"input {layer.id!r} has unknown feature {feature!r}; expected some of {list(FEATURES)}")
            if feature in PASSAGE_ONLY_FEATURES and layer.stream is not Stream.PASSAGE:
                raise GraphError(f"input {layer.id!r}: feature {feature!r} exists on the passage only")
        if layer.cell is not None:
            if layer.type is not LayerType.RNN:
                raise GraphError(f"layer {layer.id!r} ({layer.type.value}) cannot have a recurrent cell")
            if layer.cell not in CELLS:
                raise GraphError(f"rnn {layer.id!r} has unknown cell {layer.cell!r}; expected one of {list(CELLS)}")
        if layer.width != 1:
            if layer.type is not LayerType.RNN:
                raise GraphError(f"layer {layer.id!r} ({layer.type.value}) cannot have a width (rnn layers only)")
            if layer.width not in WIDTHS:
                raise GraphError(f"rnn {layer.id!r} has width {layer.width!r}; expected one of {list(WIDTHS)}")
        if layer.pointer != LINEAR:
            if layer.type is not LayerType.OUTPUT:
                raise GraphError(f"layer {layer.id!r} ({layer.type.value}) cannot have a pointer kind")
            if layer.pointer not in POINTERS:
                raise GraphError(
                    f"pointer {layer.id!r} has unknown kind {layer.pointer!r}; expected one of {list(POINTERS)}")
            if layer.pointer == CONDITIONED and layer.id != "end":
                raise GraphError(f"pointer {layer.id!r}: only 'end' can be conditioned (on the begin pointer)")


def dependencies(layer: Layer) -> tuple[str, ...]:
    """Layers whose outputs ``layer`` reads: inputs, skips and a conditioned end's ``begin``."""
    extra = ("begin",) if layer.type is LayerType.OUTPUT and layer.pointer == CONDITIONED else ()
    return (*layer.inputs, *layer.skips, *extra)


def check_references(by_id: Mapping[str, Layer]) -> None:
    for layer in by_id.values():
        for ref in (*layer.inputs, *layer.skips):
            if ref not in by_id:
                raise GraphError(f"layer {layer.id!r} refers to unknown layer {ref!r}")
            if ref == layer.id:
                raise GraphError(f"layer {layer.id!r} refers to itself")
            if by_id[ref].type is LayerType.OUTPUT:
                raise GraphError(f"layer {layer.id!r} reads output {ref!r}; outputs are terminal")
        if len(set(layer.skips)) != len(layer.skips) or (layer.inputs and layer.inputs[0] in layer.skips):
            raise GraphError(f"layer {layer.id!r} has a duplicate skip edge")
        stray = sorted(set(layer.gated_skips) - set(layer.skips))
        if stray:
            raise GraphError(f"layer {layer.id!r}: gated skip(s) {stray} are not among its skips")
        if layer.residual and layer.type not in HIDDEN_TYPES:
            raise GraphError(f"layer {layer.id!r} ({layer.type.value}) cannot be a gated residual")


def topological_order(layers: tuple[Layer, ...], by_id: Mapping[str, Layer]) -> tuple[str, ...]:
    """Kahn's algorithm, ties broken by declaration order, so the order is deterministic."""
    position = {layer.id: i for i, layer in enumerate(layers)}
    pending = {layer.id: len(set(dependencies(layer))) for layer in layers}
    consumers: dict[str, list[str]] = {layer.id: [] for layer in layers}
    for layer in layers:
        for ref in set(dependencies(layer)):
            consumers[ref].append(layer.id)
    ready = sorted((i for i, n in pending.items() if n == 0), key=position.__getitem__)
    order: list[str] = []
    while ready:
        current = ready.pop(0)
        order.append(current)
        for consumer in consumers[current]:
            pending[consumer] -= 1
            if pending[consumer] == 0:
                ready.append(consumer)
                ready.sort(key=position.__getitem__)
    if len(order) != len(layers):
        cyclic = sorted(i for i, n in pending.items() if n > 0)
        raise GraphError(f"graph has a cycle through layer(s) {cyclic}")
    return tuple(order)


def check_streams(by_id: Mapping[str, Layer]) -> None:
    for layer in by_id.values():
        if layer.type is LayerType.INPUT:
            continue
        primary = by_id[layer.inputs[0]]
        for k, ref in enumerate(layer.inputs):
            reads_summary = by_id[ref].stream is Stream.SUMMARY
            wants_summary = layer.type is LayerType.OUTPUT and k == 1
            if reads_summary != wants_summary:
                raise GraphError(
                    f"layer {layer.id!r} reads {ref!r} on stream {by_id[ref].stream.value!r}; "
                    "a question summary feeds only a bilinear pointer's second input, which must be one")
        if layer.type is LayerType.POOL:
            if layer.stream is not Stream.SUMMARY or primary.stream is not Stream.QUESTION:
                raise GraphError(f"pool {layer.id!r} must read the question stream and be on stream 'summary'")
            continue
        if layer.stream is Stream.SUMMARY:
            raise GraphError(f"layer {layer.id!r}: only a pool layer is on stream 'summary'")
        if layer.stream is not primary.stream:
            raise GraphError(
                f"layer {layer.id!r} is on stream {layer.stream.value!r} but its first input "
                f"{primary.id!r} is on {primary.stream.value!r}"
            )
        if layer.type is LayerType.OUTPUT and layer.stream is not Stream.PASSAGE:
            raise GraphError(f"output {layer.id!r} must point into the passage stream")
        for skip in layer.skips:
            if by_id[skip].stream is not layer.stream:
                raise GraphError(
                    f"skip edge {skip!r} -> {layer.id!r} mixes streams "
                    f"({by_id[skip].stream.value} into {layer.stream.value})"
                )


def check_reachability(by_id: Mapping[str, Layer], order: tuple[str, ...]) -> None:
    # Dangling: every non-output layer must feed an output.
    feeds_output: set[str] = set(OUTPUT_IDS)
    for layer_id in reversed(order):
        if layer_id in feeds_output:
            feeds_output.update(dependencies(by_id[layer_id]))
    dangling = [i for i in order if i not in feeds_output]
    if dangling:
        raise GraphError(f"layer(s) {dangling} feed no output (dangling)")
    # A reader that never looks at the question is not a reader.
    depends_on_question: set[str] = set()
    for layer_id in order:
        layer = by_id[layer_id]
        if layer_id == "question" or any(r in depends_on_question for r in dependencies(layer)):
            depends_on_question.add(layer_id)
    for name in OUTPUT_IDS:
        if name not in depends_on_question:
            raise GraphError(f"output {name!r} does not depend on the question (no attention path)")


def check_unique_uids(layers: tuple[Layer, ...]) -> None:
    seen: dict[str, str] = {}
    for layer in layers:
        assert layer.uid is not None
        if layer.uid in seen or layer.uid == EMBEDDING_HASH:
            raise GraphError(f"layers {seen.get(layer.uid, 'embedding')!r} and {layer.id!r} share uid {layer.uid}")
        seen[layer.uid] = layer.id


def check_unique_hashes(hashes: Mapping[str, str]) -> None:
    """Two layers with one hash id compute the same function of the same inputs.

    Such a graph is redundant, and its layers could not be told apart when
    weights are stored and shared by hash id, so it is rejected (mutations
    then try another edit).
    """
    seen: dict[str, str] = {}
    for layer_id, hash_id in hashes.items():
        if hash_id in seen:
            raise GraphError(
                f"layers {seen[hash_id]!r} and {layer_id!r} compute the same function "
                f"of the same inputs (duplicate hash id {hash_id})"
            )
        seen[hash_id] = layer_id

"""An independent oracle for layer hash ids, shared by the graph and mutation tests."""

from __future__ import annotations

from ga_squad.search.graph import Graph, LayerType


def structure_ids(graph: Graph, table: dict[tuple, int]) -> dict[str, int]:
    """Hash-cons each layer's structure: equal numbers iff equal structure.

    Two layers (in the same or different graphs sharing ``table``) get the same
    number iff they have the same type, stream and name-if-input/output, the
    same inputs in order and the same multiset of skips, the same attributes
    (features, cell, width, pointer kind, residual gate, gated skips), recursively.
    """
    ids: dict[str, int] = {}
    for layer_id in graph.topological_order:
        layer = graph[layer_id]
        key = (
            layer.type.value,
            layer.stream.value,
            tuple(ids[r] for r in layer.inputs),
            tuple(sorted(ids[r] for r in layer.skips)),
            layer.id if layer.type in (LayerType.INPUT, LayerType.OUTPUT) else None,
            tuple(sorted(layer.features)),
            layer.cell,
            layer.width,
            layer.pointer,
            # A conditioned end reads the begin pointer: its structure is part of end's.
            ids["begin"] if layer.pointer == "conditioned" else None,
            layer.residual,
            tuple(sorted(ids[r] for r in layer.gated_skips)),
        )
        ids[layer_id] = table.setdefault(key, len(table))
    return ids

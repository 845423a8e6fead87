"""The graph vocabulary: attributes, layer types beyond the base reader's, presets; documents of another version.

Literal tiny graphs, one per rule, with the error message matched; the
version-1 document is a file written by the version-1 code (not regenerated
by this one): it is refused, and its layers pin the base reader's hash ids.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from ga_squad.search.graph import GRAPH_VERSION, Graph, GraphError, Layer, LayerType, Stream, base_reader, layer_label
from ga_squad.search.presets import PRESETS, preset

FIXTURES = Path(__file__).resolve().parent / "fixtures"
Q, P, S = Stream.QUESTION, Stream.PASSAGE, Stream.SUMMARY
INPUT, OUTPUT, RNN, POOL, BIDAF = LayerType.INPUT, LayerType.OUTPUT, LayerType.RNN, LayerType.POOL, LayerType.BIDAF


def reader(*, passage_features=(), cell=None, begin=None, end=None, pool_on=Q) -> list[Layer]:
    """A small reader with a pool: edit one field to break one rule."""
    return [
        Layer("question", INPUT, Q),
        Layer("passage", INPUT, P, features=passage_features),
        Layer("q", RNN, Q, ("question",), cell=cell),
        Layer("pool", POOL, S, ("q" if pool_on is Q else "passage",)),
        Layer("a", BIDAF, P, ("passage", "q")),
        begin or Layer("begin", OUTPUT, P, ("a", "pool"), pointer="bilinear"),
        end or Layer("end", OUTPUT, P, ("a",), pointer="conditioned"),
    ]


def test_a_document_of_another_version_is_refused_and_the_base_reader_keeps_its_hash_ids() -> None:
    doc = json.loads((FIXTURES / "graph_v1_base.json").read_text(encoding="utf-8"))
    assert doc["version"] == 1
    with pytest.raises(GraphError, match=r"^graph format version 1 is not supported \(this reads version 4\)$"):
        Graph.from_dict(doc)
    graph = Graph.from_dict({**doc, "version": GRAPH_VERSION})  # also checks the stored hash_ids
    assert graph == base_reader()
    assert graph.hash_ids == doc["hash_ids"]
    assert graph.uids == graph.hash_ids  # a layer built without a uid: its identity is its hash id
    again = graph.to_dict()
    assert again["version"] == GRAPH_VERSION == 4
    assert Graph.from_dict(again) == graph


def test_small_reader_with_every_new_element_is_valid() -> None:
    graph = Graph(tuple(reader(passage_features=("term_freq", "aligned"), cell="lstm")))
    assert graph["passage"].features == ("aligned", "term_freq")  # canonical order
    assert graph.topological_order.index("begin") < graph.topological_order.index("end")
    assert {layer.id for layer in graph.hidden_layers} == {"q", "a"}  # a pool is not a hidden layer
    assert Graph.from_json(graph.to_json()) == graph


INVALID = {
    "bilinear_pointer_without_summary": (
        reader(begin=Layer("begin", OUTPUT, P, ("a",), pointer="bilinear"), end=Layer("end", OUTPUT, P, ("a", "pool"),
                                                                                      pointer="bilinear")),
        "pointer 'begin' (bilinear) takes 2 input(s) (a passage layer and a question summary (pool)), got 1"),
    "linear_pointer_reading_a_summary": (
        reader(begin=Layer("begin", OUTPUT, P, ("a", "pool"))),
        "pointer 'begin' (linear) takes 1 input(s) (a passage layer), got 2"),
    "conditioned_begin": (
        reader(begin=Layer("begin", OUTPUT, P, ("a",), pointer="conditioned"),
               end=Layer("end", OUTPUT, P, ("a", "pool"), pointer="bilinear")),
        "pointer 'begin': only 'end' can be conditioned (on the begin pointer)"),
    "unknown_pointer": (
        reader(end=Layer("end", OUTPUT, P, ("a",), pointer="ring")),
        "pointer 'end' has unknown kind 'ring'; expected one of ['linear', 'bilinear', 'conditioned']"),
    "bilinear_second_input_not_a_summary": (
        reader(begin=Layer("begin", OUTPUT, P, ("a", "q"), pointer="bilinear")),
        "layer 'begin' reads 'q' on stream 'question'; a question summary feeds only a bilinear "
        "pointer's second input, which must be one"),
    "pool_over_the_passage": (reader(pool_on=P), "pool 'pool' must read the question stream and be on stream 'summary'"),
    "unknown_feature": (
        reader(passage_features=("pos_tags",)),
        "input 'passage' has unknown feature 'pos_tags'; expected some of ['exact_match', 'exact_match_lower', "
        "'exact_match_stem', 'token_flags', 'term_freq', 'aligned']"),
    "unknown_cell": (reader(cell="rnn"), "rnn 'q' has unknown cell 'rnn'; expected one of ['gru', 'lstm']"),
}


@pytest.mark.parametrize("layers, message", INVALID.values(), ids=INVALID.keys())
def test_invalid_v2_graph_is_rejected_naming_the_layer(layers: list[Layer], message: str) -> None:
    with pytest.raises(GraphError, match=f"^{re.escape(message)}$"):
        Graph(tuple(layers))


def test_attributes_only_where_they_mean_something() -> None:
    base = list(base_reader().layers)

    def swap(layer_id: str, **changes) -> tuple[Layer, ...]:
        return tuple(l.replace(**changes) if l.id == layer_id else l for l in base)

    cases = [
        (swap("question", features=("aligned",)), "input 'question': feature 'aligned' exists on the passage only"),
        (swap("h2", features=("term_freq",)), "layer 'h2' (attention) cannot have input features"),
        (swap("h2", cell="gru"), "layer 'h2' (attention) cannot have a recurrent cell"),
        (swap("h3", pointer="bilinear"), "layer 'h3' (rnn) cannot have a pointer kind"),
        (swap("h2", width=2), "layer 'h2' (attention) cannot have a width (rnn layers only)"),
        (swap("h3", width=3), "rnn 'h3' has width 3; expected one of [1, 2, 4]"),
    ]
    for layers, message in cases:
        with pytest.raises(GraphError, match=f"^{re.escape(message)}$"):
            Graph(layers)


def test_unknown_layer_type_in_a_saved_v2_graph_names_the_layer() -> None:
    doc = preset("drqa").to_dict()
    doc["layers"][3]["type"] = "transformer"
    del doc["hash_ids"]
    with pytest.raises(GraphError, match=r"^layer 'h1' has unknown type 'transformer'; expected one of \["):
        Graph.from_dict(doc)


def test_each_attribute_changes_exactly_its_layer_and_downstream() -> None:
    graph = Graph(tuple(reader()))

    def edited(layer_id: str, drop: str = "", **changes) -> Graph:
        return Graph(tuple(l.replace(**changes) if l.id == layer_id else l for l in graph.layers if l.id != drop))

    def changed(other: Graph) -> set[str]:
        return {i for i in graph.hash_ids if i in other and graph.hash_id(i) != other.hash_id(i)}

    assert changed(edited("passage", features=("exact_match",))) == {"passage", "a", "begin", "end"}
    assert changed(edited("q", cell="lstm")) == {"q", "pool", "a", "begin", "end"}
    # end is conditioned on begin: begin's pointer kind is part of end's function too ...
    assert changed(edited("begin", drop="pool", inputs=("a",), pointer="linear")) == {"begin", "end"}
    # ... but not of a linear end's.
    linear_end = edited("end", pointer="linear")
    both_linear = Graph(tuple(l.replace(inputs=("a",), pointer="linear") if l.id == "begin" else l
                              for l in linear_end.layers if l.id != "pool"))
    assert both_linear.hash_id("end") == linear_end.hash_id("end")
    assert both_linear.hash_id("begin") != linear_end.hash_id("begin")


def test_presets_are_distinct_valid_graphs_that_round_trip() -> None:
    graphs = {name: preset(name) for name in PRESETS}
    assert len({g.fingerprint() for g in graphs.values()}) == len(graphs)
    for graph in graphs.values():
        assert Graph.from_json(graph.to_json()) == graph
    assert graphs["base"] == base_reader()
    assert "aligned" in graphs["drqa"]["passage"].features and graphs["drqa"]["begin"].pointer == "bilinear"
    assert any(l.type is BIDAF for l in graphs["bidaf"].layers) and graphs["bidaf"]["end"].pointer == "conditioned"
    with pytest.raises(ValueError, match=r"^unknown preset 'qanet'; expected one of \['base', 'drqa', 'bidaf'\]$"):
        preset("qanet")


def test_layer_labels_show_attributes() -> None:
    drqa = preset("drqa")
    assert layer_label(drqa["passage"]) == "input+align+em+eml+ems+tf+flags"
    assert layer_label(drqa["h0"]) == "rnn:lstm"
    assert layer_label(drqa["begin"]) == "output:bilinear"
    assert layer_label(base_reader()["h0"]) == "rnn"
    assert layer_label(drqa["h0"].replace(width=2)) == "rnn:lstm:x2"
    assert layer_label(base_reader()["h0"].replace(width=4)) == "rnn:x4"


def test_width_round_trips_changes_the_hash_but_not_the_identity() -> None:
    graph = preset("drqa")
    wide = Graph(tuple(l.replace(width=2) if l.id == "h2" else l for l in graph.layers))
    doc = wide.to_dict()
    assert doc["version"] == 4 and next(l for l in doc["layers"] if l["id"] == "h2")["width"] == 2
    assert all("width" not in l for l in graph.to_dict()["layers"])  # width 1 stays out: old hashes hold
    assert Graph.from_dict(doc) == wide
    assert wide.hash_id("h2") != graph.hash_id("h2") and wide.uid("h2") == graph.uid("h2")
    assert wide.shared_ids(graph) == graph.weight_ids()  # resized, not restarted
    doc["layers"][next(i for i, l in enumerate(doc["layers"]) if l["id"] == "h2")]["width"] = "2"
    del doc["hash_ids"]
    with pytest.raises(GraphError, match=r"^layer 'h2': width must be an integer, got '2'$"):
        Graph.from_dict(doc)

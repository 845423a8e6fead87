"""Graph logic on literal tiny graphs (nasbench ``graph_util_test`` style).

Each validation rule is exercised by the smallest graph that breaks it, and the
error message is matched, so a rule cannot silently start failing for another
reason. Hash ids are checked against an independent oracle (hash-consing of the
layer structure) rather than against values copied from the implementation.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
from collections.abc import Iterable
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ga_squad.search.graph import (
    EMBEDDING_HASH,
    GRAPH_FORMAT,
    GRAPH_VERSION,
    HASH_LENGTH,
    Graph,
    GraphError,
    Layer,
    LayerType,
    Stream,
    base_reader,
)
from graph_oracle import structure_ids
from ga_squad.search.mutator import Mutator

REPO_ROOT = Path(__file__).resolve().parents[1]
Q, P = Stream.QUESTION, Stream.PASSAGE
INPUT, OUTPUT = LayerType.INPUT, LayerType.OUTPUT
RNN, ATT, SELF = LayerType.RNN, LayerType.ATTENTION, LayerType.SELF_ATTENTION


# --- literal layer builders ---------------------------------------------------
def question() -> Layer:
    return Layer("question", INPUT, Q)


def passage() -> Layer:
    return Layer("passage", INPUT, P)


def rnn(layer_id: str, stream: Stream, x: str, skips: Iterable[str] = ()) -> Layer:
    return Layer(layer_id, RNN, stream, (x,), tuple(skips))


def att(layer_id: str, stream: Stream, x: str, memory: str, skips: Iterable[str] = ()) -> Layer:
    return Layer(layer_id, ATT, stream, (x, memory), tuple(skips))


def out(name: str, x: str, stream: Stream = P, skips: Iterable[str] = ()) -> Layer:
    return Layer(name, OUTPUT, stream, (x,), tuple(skips))


def minimal_layers() -> list[Layer]:
    """The smallest reader: passage attends to question, both pointers read it."""
    return [question(), passage(), att("a", P, "passage", "question"), out("begin", "a"), out("end", "a")]


def renamed(graph: Graph, mapping: dict[str, str]) -> Graph:
    """The same graph with hidden layers renamed by ``mapping`` (inputs/outputs keep names)."""
    name = lambda i: mapping.get(i, i)  # noqa: E731
    return Graph(tuple(
        l.replace(id=name(l.id), inputs=tuple(map(name, l.inputs)), skips=tuple(map(name, l.skips)),
                  gated_skips=tuple(map(name, l.gated_skips)))
        for l in graph.layers
    ))


def random_graph(seed: int, steps: int) -> Graph:
    return Mutator().mutate_many(base_reader(), random.Random(seed), steps).graph


seeds = st.integers(min_value=0, max_value=2**32 - 1)
chain_lengths = st.integers(min_value=0, max_value=12)


# --- construction and validation ---------------------------------------------
def test_minimal_reader_is_valid() -> None:
    graph = Graph(tuple(minimal_layers()))
    assert [l.id for l in graph.hidden_layers] == ["a"]
    assert graph.topological_order == ("question", "passage", "a", "begin", "end")


def test_base_reader_shape() -> None:
    graph = base_reader()
    assert [(l.id, l.type) for l in graph.hidden_layers] == [
        ("h0", RNN), ("h1", RNN), ("h2", ATT), ("h3", RNN)
    ]
    assert graph.consumers("h3") == ("begin", "end")
    assert graph.consumers("h0") == ("h2",)
    assert graph.descendants("h0") == {"h2", "h3", "begin", "end"}
    assert graph.descendants("begin") == frozenset()
    assert graph.new_layer_id() == "h8"


def test_new_layer_id_skips_taken_names() -> None:
    layers = [question(), passage(), att("h5", P, "passage", "question"),
              rnn("h6", P, "h5"), out("begin", "h6"), out("end", "h6")]
    graph = Graph(tuple(layers))  # 6 layers: h6 is taken, h7 is free
    assert graph.new_layer_id() == "h7"


def test_graph_and_layers_are_immutable() -> None:
    graph = base_reader()
    with pytest.raises(FrozenInstanceError):
        graph.layers = ()  # type: ignore[misc]
    with pytest.raises(FrozenInstanceError):
        graph.layers[2].inputs = ("passage",)  # type: ignore[misc]


def _replace(layers: list[Layer], *new: Layer) -> list[Layer]:
    """``layers`` with same-id layers swapped for ``new`` and unknown ids appended."""
    by_id = {l.id: l for l in new}
    result = [by_id.pop(l.id, l) for l in layers]
    return result + list(by_id.values())


def _without(layers: list[Layer], layer_id: str) -> list[Layer]:
    return [l for l in layers if l.id != layer_id]


INVALID = {
    "cycle": (
        [question(), passage(), rnn("a", P, "b"), att("b", P, "a", "question"),
         out("begin", "b"), out("end", "b")],
        "graph has a cycle through layer(s) ['a', 'b', 'begin', 'end']",
    ),
    "self_reference": (
        _replace(minimal_layers(), att("a", P, "a", "question")),
        "layer 'a' refers to itself",
    ),
    "unknown_input": (
        _replace(minimal_layers(), att("a", P, "passage", "ghost")),
        "layer 'a' refers to unknown layer 'ghost'",
    ),
    "unknown_skip": (
        _replace(minimal_layers(), out("end", "a", skips=["ghost"])),
        "layer 'end' refers to unknown layer 'ghost'",
    ),
    "dangling_layer": (
        minimal_layers() + [rnn("x", P, "passage")],
        "layer(s) ['x'] feed no output (dangling)",
    ),
    "dangling_question": (
        [question(), passage(), rnn("r", P, "passage"), out("begin", "r"), out("end", "r")],
        "layer(s) ['question'] feed no output (dangling)",
    ),
    "attention_with_one_input": (
        _replace(minimal_layers(), Layer("a", ATT, P, ("passage",))),
        "layer 'a' (attention) takes 2 input(s), got 1",
    ),
    "rnn_with_two_inputs": (
        minimal_layers() + [Layer("r", RNN, P, ("passage", "question"))],
        "layer 'r' (rnn) takes 1 input(s), got 2",
    ),
    "output_with_no_input": (
        _replace(minimal_layers(), Layer("end", OUTPUT, P)),
        "pointer 'end' (linear) takes 1 input(s) (a passage layer), got 0",
    ),
    "input_with_an_input": (
        _replace(minimal_layers(), Layer("passage", INPUT, P, ("question",))),
        "layer 'passage' (input) takes 0 input(s), got 1",
    ),
    "input_with_skip": (
        _replace(minimal_layers(), Layer("passage", INPUT, P, (), ("question",))),
        "input layer 'passage' cannot have skip edges",
    ),
    "passage_rnn_reads_question_layer": (
        [question(), passage(), rnn("q", Q, "question"), att("a", P, "passage", "q"),
         rnn("r", P, "q"), out("begin", "a"), out("end", "r")],
        "layer 'r' is on stream 'passage' but its first input 'q' is on 'question'",
    ),
    "attention_on_wrong_stream": (
        _replace(minimal_layers(), att("a", Q, "passage", "question")),
        "layer 'a' is on stream 'question' but its first input 'passage' is on 'passage'",
    ),
    "skip_across_streams": (
        _replace(minimal_layers(), att("a", P, "passage", "question", skips=["question"])),
        "skip edge 'question' -> 'a' mixes streams (question into passage)",
    ),
    "output_on_question_stream": (
        [question(), passage(), rnn("q", Q, "question"), att("a", P, "passage", "q"),
         out("begin", "q", stream=Q), out("end", "a")],
        "output 'begin' must point into the passage stream",
    ),
    "output_reads_question_stream": (
        [question(), passage(), rnn("q", Q, "question"), att("a", P, "passage", "q"),
         out("begin", "q"), out("end", "a")],
        "layer 'begin' is on stream 'passage' but its first input 'q' is on 'question'",
    ),
    "missing_question_input": (
        _without(minimal_layers(), "question"),
        "graph needs an input layer named 'question'",
    ),
    "missing_passage_input": (
        _without(minimal_layers(), "passage"),
        "graph needs an input layer named 'passage'",
    ),
    "question_is_not_an_input": (
        _replace(minimal_layers(), Layer("question", SELF, Q, ("passage",))),
        "graph needs an input layer named 'question'",
    ),
    "input_on_wrong_stream": (
        _replace(minimal_layers(), Layer("question", INPUT, P)),
        "input 'question' must be on stream 'question'",
    ),
    "missing_begin_output": (
        _without(minimal_layers(), "begin"),
        "graph needs an output layer named 'begin'",
    ),
    "missing_end_output": (
        _without(minimal_layers(), "end"),
        "graph needs an output layer named 'end'",
    ),
    "extra_input": (
        minimal_layers() + [Layer("title", INPUT, P)],
        "input layer 'title': only ['passage', 'question'] may be inputs",
    ),
    "extra_output": (
        minimal_layers() + [out("span", "a")],
        "output layer 'span': only ['begin', 'end'] may be outputs",
    ),
    "duplicate_id": (
        minimal_layers() + [rnn("a", P, "passage")],
        "duplicate layer id 'a'",
    ),
    "output_read_by_a_layer": (
        _replace(minimal_layers(), rnn("r", P, "begin"), out("end", "r")),
        "layer 'r' reads output 'begin'; outputs are terminal",
    ),
    "output_read_as_skip": (
        _replace(minimal_layers(), out("end", "a", skips=["begin"])),
        "layer 'end' reads output 'begin'; outputs are terminal",
    ),
    "reader_ignores_question": (
        _replace(minimal_layers(), rnn("r", P, "passage"), out("end", "r")),
        "output 'end' does not depend on the question (no attention path)",
    ),
    "skip_repeats_first_input": (
        _replace(minimal_layers(), att("a", P, "passage", "question", skips=["passage"])),
        "layer 'a' has a duplicate skip edge",
    ),
    "skip_listed_twice": (
        _replace(minimal_layers(), rnn("r", P, "a", skips=["passage", "passage"]),
                 out("begin", "r"), out("end", "r")),
        "layer 'r' has a duplicate skip edge",
    ),
}


@pytest.mark.parametrize("layers, message", INVALID.values(), ids=INVALID.keys())
def test_invalid_graph_is_rejected_with_specific_message(layers: list[Layer], message: str) -> None:
    with pytest.raises(GraphError, match=f"^{re.escape(message)}$"):
        Graph(tuple(layers))


def test_graph_error_is_a_value_error() -> None:
    assert issubclass(GraphError, ValueError)


# --- topological order ---------------------------------------------------------
def assert_topological(graph: Graph) -> None:
    order = graph.topological_order
    assert sorted(order) == sorted(l.id for l in graph.layers)
    position = {layer_id: i for i, layer_id in enumerate(order)}
    for layer in graph.layers:
        for ref in (*layer.inputs, *layer.skips):
            assert position[ref] < position[layer.id], (ref, layer.id)


def test_topological_order_of_layers_declared_backwards() -> None:
    layers = list(reversed(base_reader().layers))
    graph = Graph(tuple(layers))
    assert_topological(graph)
    # Kahn's algorithm, ties broken by declaration order (here: reversed).
    assert graph.topological_order == ("passage", "h1", "question", "h0", "h2", "h3", "end", "begin")


def test_topological_order_respects_skip_declared_later() -> None:
    layers = [question(), passage(), att("a", P, "passage", "question", skips=["r"]),
              rnn("r", P, "passage"), out("begin", "a"), out("end", "a")]
    graph = Graph(tuple(layers))
    assert graph.topological_order == ("question", "passage", "r", "a", "begin", "end")


def test_topological_order_is_deterministic() -> None:
    layers = tuple(reversed(base_reader().layers))
    orders = {Graph(layers).topological_order for _ in range(5)}
    assert len(orders) == 1


@settings(max_examples=60, deadline=None)
@given(seed=seeds, steps=chain_lengths)
def test_topological_order_of_random_graphs(seed: int, steps: int) -> None:
    graph = random_graph(seed, steps)
    assert_topological(graph)
    # The order does not depend on how the layers were handed over once canonical.
    assert Graph(tuple(graph[i] for i in graph.topological_order)).topological_order == graph.topological_order


# --- hash ids ------------------------------------------------------------------
def test_hash_ids_are_short_hex_strings() -> None:
    for value in base_reader().hash_ids.values():
        assert re.fullmatch(f"[0-9a-f]{{{HASH_LENGTH}}}", value)
    assert re.fullmatch(f"[0-9a-f]{{{HASH_LENGTH}}}", EMBEDDING_HASH)


def test_hash_ids_are_listed_in_topological_order() -> None:
    graph = Graph(tuple(reversed(base_reader().layers)))
    assert tuple(graph.hash_ids) == graph.topological_order


def test_every_base_reader_layer_has_a_distinct_hash() -> None:
    hashes = list(base_reader().hash_ids.values())
    assert len(set(hashes)) == len(hashes)


def test_begin_and_end_pointers_differ_even_on_the_same_input() -> None:
    graph = base_reader()
    assert graph["begin"].inputs == graph["end"].inputs
    assert graph.hash_id("begin") != graph.hash_id("end")


def test_question_and_passage_inputs_differ() -> None:
    graph = base_reader()
    assert graph.hash_id("question") != graph.hash_id("passage")


_CROSS_PROCESS_SCRIPT = """
import json, random
from ga_squad.search.graph import base_reader
from ga_squad.search.mutator import Mutator
chain = Mutator().mutate_many(base_reader(), random.Random(2024), 12)
print(json.dumps({
    "base": base_reader().hash_ids,
    "chain_graph": chain.graph.to_json(),
    "chain_detail": chain.detail,
    "chain_order": list(chain.graph.topological_order),
    "fingerprint": chain.graph.fingerprint(),
}))
"""


def _cross_process_result(hash_seed: str) -> dict:
    env = {**os.environ, "PYTHONHASHSEED": hash_seed, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", _CROSS_PROCESS_SCRIPT], env=env, cwd=REPO_ROOT,
        capture_output=True, text=True, timeout=60, check=True,
    )
    return json.loads(proc.stdout)


def test_hash_ids_and_mutation_chains_are_identical_across_processes() -> None:
    """String hashing is salted per process; nothing here may depend on it."""
    first, second = _cross_process_result("1"), _cross_process_result("4242")
    assert first == second
    chain = Mutator().mutate_many(base_reader(), random.Random(2024), 12)
    assert first == {
        "base": base_reader().hash_ids,
        "chain_graph": chain.graph.to_json(),
        "chain_detail": chain.detail,
        "chain_order": list(chain.graph.topological_order),
        "fingerprint": chain.graph.fingerprint(),
    }
    assert chain.detail.count(";") == 11  # the chain really made 12 steps


def test_hash_ids_ignore_hidden_layer_names() -> None:
    graph = base_reader()
    mapping = {"h0": "q_encoder", "h1": "p_encoder", "h2": "p2q", "h3": "modelling"}
    other = renamed(graph, mapping)
    for layer_id, value in graph.hash_ids.items():
        assert other.hash_id(mapping.get(layer_id, layer_id)) == value
    assert other.fingerprint() == graph.fingerprint()
    assert other.weight_ids() == graph.weight_ids()


@settings(max_examples=40, deadline=None)
@given(seed=seeds, steps=chain_lengths)
def test_hash_ids_ignore_hidden_layer_names_in_random_graphs(seed: int, steps: int) -> None:
    graph = random_graph(seed, steps)
    hidden = [l.id for l in graph.hidden_layers]
    mapping = {old: f"layer_{i}" for i, old in enumerate(reversed(hidden))}
    other = renamed(graph, mapping)
    assert {mapping.get(k, k): v for k, v in graph.hash_ids.items()} == other.hash_ids
    assert other.fingerprint() == graph.fingerprint()


def test_skip_order_is_irrelevant() -> None:
    def build(skips: list[str]) -> Graph:
        return Graph((question(), passage(), rnn("r", P, "passage"), rnn("s", P, "r"),
                      att("a", P, "s", "question", skips=skips), out("begin", "a"), out("end", "a")))

    one, two = build(["r", "passage"]), build(["passage", "r"])
    assert one.hash_ids == two.hash_ids
    assert one.hash_id("a") != build(["r"]).hash_id("a")  # but skips themselves count


def test_attention_input_order_is_relevant() -> None:
    def build(x: str, memory: str) -> Graph:
        return Graph((question(), passage(), rnn("r", P, "passage"),
                      att("c", P, "passage", "question"), att("a", P, x, memory),
                      out("begin", "a"), out("end", "a")))

    one, two = build("r", "c"), build("c", "r")
    assert one.hash_id("a") != two.hash_id("a")
    assert one.hash_id("r") == two.hash_id("r") and one.hash_id("c") == two.hash_id("c")
    assert one.fingerprint() != two.fingerprint()


def test_layer_type_is_part_of_the_hash() -> None:
    base = base_reader()
    changed = Graph(tuple(Layer(l.id, SELF, l.stream, l.inputs) if l.id == "h3" else l for l in base.layers))
    assert changed.hash_id("h3") != base.hash_id("h3")


def test_hash_changes_exactly_downstream_of_an_edit() -> None:
    """Merkle property: editing h0 (question encoder) changes h0 and its descendants only."""
    base = base_reader()
    changed = Graph(tuple(Layer(l.id, SELF, l.stream, l.inputs) if l.id == "h0" else l for l in base.layers))
    differs = {i for i in base.hash_ids if base.hash_id(i) != changed.hash_id(i)}
    assert differs == {"h0", "h2", "h3", "begin", "end"}


def test_adding_a_skip_changes_target_and_downstream_only() -> None:
    base = base_reader()
    changed = Graph(tuple(rnn("h3", P, "h2", skips=["h1"]) if l.id == "h3" else l for l in base.layers))
    differs = {i for i in base.hash_ids if base.hash_id(i) != changed.hash_id(i)}
    assert differs == {"h3", "begin", "end"}


@settings(max_examples=40, deadline=None)
@given(seed_a=seeds, seed_b=seeds, steps=chain_lengths)
def test_equal_hash_iff_equal_structure(seed_a: int, seed_b: int, steps: int) -> None:
    """Across two graphs (a parent and its child, and an unrelated graph), hash ids
    coincide exactly when the layers have the same structure (no collisions, no
    spurious differences)."""
    parent = random_graph(seed_a, steps)
    child = Mutator().mutate(parent, random.Random(seed_b)).graph
    stranger = random_graph(seed_b, 3)
    table: dict[tuple, int] = {}
    pairs = []
    for graph in (parent, child, stranger):
        pairs += [(graph.hash_id(i), s) for i, s in structure_ids(graph, table).items()]
    by_hash: dict[str, set[int]] = {}
    by_structure: dict[int, set[str]] = {}
    for value, structure in pairs:
        by_hash.setdefault(value, set()).add(structure)
        by_structure.setdefault(structure, set()).add(value)
    assert all(len(s) == 1 for s in by_hash.values())
    assert all(len(h) == 1 for h in by_structure.values())


def test_weight_ids_and_shared_ids() -> None:
    base, minimal = base_reader(), Graph(tuple(minimal_layers()))
    assert base.weight_ids() == frozenset(base.hash_ids.values()) | {EMBEDDING_HASH}
    assert base.shared_ids(base) == base.weight_ids()
    # Unrelated readers share only the embeddings and the input projections.
    expected = {EMBEDDING_HASH, base.hash_id("question"), base.hash_id("passage")}
    assert base.shared_ids(minimal) == minimal.shared_ids(base) == expected


def test_fingerprint_tells_readers_apart() -> None:
    fingerprints = {base_reader().fingerprint(), Graph(tuple(minimal_layers())).fingerprint()}
    assert len(fingerprints) == 2
    assert base_reader().fingerprint() == base_reader().fingerprint()


# --- JSON ----------------------------------------------------------------------
def test_json_document_layout() -> None:
    data = json.loads(base_reader().to_json())
    assert data["format"] == GRAPH_FORMAT and data["version"] == GRAPH_VERSION
    assert [l["id"] for l in data["layers"]] == [l.id for l in base_reader().layers]
    assert data["hash_ids"] == base_reader().hash_ids
    assert data["layers"][4] == {"id": "h2", "type": "attention", "stream": "passage",
                                 "inputs": ["h1", "h0"], "skips": [], "uid": base_reader().hash_id("h2")}


def test_json_round_trip_of_base_reader() -> None:
    graph = base_reader()
    again = Graph.from_json(graph.to_json())
    assert again == graph
    assert again.hash_ids == graph.hash_ids


def test_json_round_trip_keeps_layers_declared_out_of_topological_order() -> None:
    """Regression: to_dict used to write layers in topological order, so a graph
    whose stored order was not topological (InsertLayer(attention) can produce
    one) came back as a different Graph: unequal, and mutated differently by
    the same seed, which broke replays from the journal."""
    base = base_reader()
    layers = [base["question"], base["passage"], base["h1"], base["h2"], base["h0"],
              base["h3"], base["begin"], base["end"]]
    graph = Graph(tuple(layers))
    assert graph.topological_order != tuple(l.id for l in graph.layers)
    again = Graph.from_json(graph.to_json())
    assert again == graph
    assert again.layers == graph.layers
    assert again.topological_order == graph.topological_order


@settings(max_examples=80, deadline=None)
@given(seed=seeds, steps=chain_lengths)
def test_json_round_trip_of_random_graphs(seed: int, steps: int) -> None:
    graph = random_graph(seed, steps)
    again = Graph.from_json(graph.to_json())
    assert again.hash_ids == graph.hash_ids
    assert again == graph
    assert again.to_json() == graph.to_json()
    assert again.fingerprint() == graph.fingerprint()
    without_hashes = {k: v for k, v in graph.to_dict().items() if k != "hash_ids"}
    assert Graph.from_dict(without_hashes) == graph


def _base_doc() -> dict:
    return base_reader().to_dict()


def _with(**changes) -> dict:
    return {**_base_doc(), **changes}


def _layer_patch(index: int, **changes) -> dict:
    doc = _base_doc()
    doc["layers"][index] = {**doc["layers"][index], **changes}
    doc.pop("hash_ids")
    return doc


def _tampered_hash() -> dict:
    doc = _base_doc()
    doc["hash_ids"]["h3"] = "0" * HASH_LENGTH
    return doc


def _dropped_hash() -> dict:
    doc = _base_doc()
    del doc["hash_ids"]["h3"]
    return doc


def _edited_layer_with_stale_hashes() -> dict:
    doc = _base_doc()
    doc["layers"][5]["type"] = "self_attention"  # h3, hash_ids left as they were
    return doc


BAD_DOCUMENTS = {
    "not_an_object": ([], "graph must be a JSON object, got list"),
    "wrong_format": (_with(format="keras-model"), "not a ga-squad graph: format 'keras-model'"),
    "unsupported_version": (_with(version=5), "graph format version 5 is not supported (this reads version 4)"),
    "old_version": (_with(version=3), "graph format version 3 is not supported (this reads version 4)"),
    "no_layers": ({"format": GRAPH_FORMAT, "version": GRAPH_VERSION}, "graph lacks a 'layers' list"),
    "layers_not_a_list": (_with(layers={"h0": {}}), "graph lacks a 'layers' list"),
    "layer_not_an_object": (_with(layers=["h0"]), "layer must be a JSON object, got str"),
    "layer_lacks_stream": (
        _with(layers=[{"id": "x", "type": "rnn"}]), "layer 'x' lacks field(s) ['stream']"),
    "unknown_type": (
        _layer_patch(2, type="conv"),
        "layer 'h0' has unknown type 'conv'; expected one of "
        "['input', 'output', 'attention', 'self_attention', 'rnn', 'bidaf', 'pool']"),
    "unknown_stream": (
        _layer_patch(2, stream="answer"),
        "layer 'h0' has unknown stream 'answer'; expected one of ['question', 'passage', 'summary']"),
    "inputs_not_a_list": (_layer_patch(2, inputs="question"), "layer 'h0': inputs must be a list of layer ids"),
    "skips_not_strings": (_layer_patch(2, skips=[1]), "layer 'h0': skips must be a list of layer ids"),
    "invalid_graph": (_layer_patch(2, inputs=["ghost"]), "layer 'h0' refers to unknown layer 'ghost'"),
    "tampered_hash": (_tampered_hash(), "stored hash_ids do not match the layers (edited or from another version)"),
    "dropped_hash": (_dropped_hash(), "stored hash_ids do not match the layers (edited or from another version)"),
    "edited_layer": (
        _edited_layer_with_stale_hashes(),
        "stored hash_ids do not match the layers (edited or from another version)"),
}


@pytest.mark.parametrize("doc, message", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
def test_bad_documents_are_rejected(doc: object, message: str) -> None:
    with pytest.raises(GraphError, match=f"^{re.escape(message)}$"):
        Graph.from_dict(doc)  # type: ignore[arg-type]
    with pytest.raises(GraphError, match=f"^{re.escape(message)}$"):
        Graph.from_json(json.dumps(doc))


def test_edited_layer_without_stored_hashes_is_accepted() -> None:
    doc = _edited_layer_with_stale_hashes()
    del doc["hash_ids"]
    assert Graph.from_dict(doc)["h3"].type is SELF


@pytest.mark.parametrize("text", ["{", "", "{'layers': []}", "nul"])
def test_bad_json_is_rejected(text: str) -> None:
    with pytest.raises(GraphError, match="^graph is not valid JSON: "):
        Graph.from_json(text)


def test_two_layers_with_one_hash_id_are_rejected() -> None:
    # rnn(h0) twice, one per pointer: same function of the same input, so the
    # two could not be stored or shared apart by hash id.
    layers = [
        question(), passage(),
        att("h0", P, "passage", "question"),
        rnn("h1", P, "h0"), rnn("h2", P, "h0"),
        out("begin", "h1"), out("end", "h2"),
    ]
    with pytest.raises(GraphError, match=r"layers 'h1' and 'h2' compute the same function"):
        Graph(tuple(layers))


def test_mutation_chains_never_produce_duplicate_hash_ids() -> None:
    mutator = Mutator(1, 10)
    for seed in range(200):
        graph, rng = base_reader(), random.Random(seed)
        for _ in range(12):
            graph = mutator.mutate(graph, rng).graph
            assert len(set(graph.hash_ids.values())) == len(graph.layers)


def test_uids_survive_json_and_are_validated() -> None:
    child = Mutator().mutate_many(base_reader(), random.Random(3), 4).graph
    assert Graph.from_json(child.to_json()).uids == child.uids
    doc = child.to_dict()
    doc["layers"][-1]["uid"] = doc["layers"][0]["uid"]
    with pytest.raises(GraphError, match="share uid"):
        Graph.from_dict(doc)
    doc["layers"][-1]["uid"] = "XYZ"
    with pytest.raises(GraphError, match="uid must be 16 lower-case hex characters"):
        Graph.from_dict(doc)
    doc = child.to_dict()
    doc["layers"][-1]["gated_skips"] = ["question"]
    with pytest.raises(GraphError, match="not among its skips"):
        Graph.from_dict(doc)

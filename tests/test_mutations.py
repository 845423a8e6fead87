"""Mutation operators through one parametrised contract suite (optuna
``testing/pytest_samplers.py`` style), then the Mutator and property tests over
random mutation chains.

The central contract: a mutation changes exactly the hash ids downstream of its
edit, so a child inherits every parent weight that still computes the same
function of the same inputs, and nothing else.
"""

from __future__ import annotations

import functools
import random
import re
from collections import Counter

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ga_squad.search.graph import EMBEDDING_HASH, HIDDEN_TYPES, Graph, Layer, LayerType, Stream, base_reader
from ga_squad.search.mutations import (
    AddSkip,
    Identity,
    InsertLayer,
    Mutation,
    MutationOperator,
    RemoveLayer,
    RemoveSkip,
    SetPointer,
    SetWidth,
    SwitchCell,
    ToggleFeature,
)
from ga_squad.search.mutator import Mutator, default_operators
from ga_squad.search.presets import PRESETS, preset

Q, P = Stream.QUESTION, Stream.PASSAGE
INPUT, OUTPUT = LayerType.INPUT, LayerType.OUTPUT
RNN, ATT, SELF = LayerType.RNN, LayerType.ATTENTION, LayerType.SELF_ATTENTION

OPERATORS = list(default_operators())
OPERATOR_NAMES = [op.name for op in OPERATORS]
seeds = st.integers(min_value=0, max_value=2**32 - 1)


def minimal_reader() -> Graph:
    """One hidden layer: the passage attends to the question."""
    return Graph((
        Layer("question", INPUT, Q),
        Layer("passage", INPUT, P),
        Layer("a", ATT, P, ("passage", "question")),
        Layer("begin", OUTPUT, P, ("a",)),
        Layer("end", OUTPUT, P, ("a",)),
    ))


@functools.cache
def sample_graphs() -> tuple[Graph, ...]:
    """Tiny literal graphs plus random readers of various sizes (deterministic)."""
    mutator = Mutator(max_layers=10)
    seeds = [preset(name) for name in PRESETS]
    chains = tuple(
        mutator.mutate_many(seeds[seed % len(seeds)], random.Random(seed), 1 + seed % 12).graph
        for seed in range(64)
    )
    return (minimal_reader(), *seeds) + chains


def assert_valid_reader(graph: Graph) -> None:
    """Re-check the reader invariants without trusting Graph's own validation."""
    ids = [l.id for l in graph.layers]
    assert len(set(ids)) == len(ids)
    assert graph["question"].type is INPUT and graph["question"].stream is Q
    assert graph["passage"].type is INPUT and graph["passage"].stream is P
    assert {l.id for l in graph.layers if l.type is INPUT} == {"question", "passage"}
    assert {l.id for l in graph.layers if l.type is OUTPUT} == {"begin", "end"}
    arity = {INPUT: 0, OUTPUT: 1, ATT: 2, SELF: 1, RNN: 1, LayerType.BIDAF: 2, LayerType.POOL: 1}
    pointer_arity = {"linear": 1, "bilinear": 2, "conditioned": 1}
    position = {layer_id: i for i, layer_id in enumerate(graph.topological_order)}
    assert set(position) == set(ids)
    readers: dict[str, set[str]] = {i: set() for i in ids}
    for layer in graph.layers:
        want = pointer_arity[layer.pointer] if layer.type is OUTPUT else arity[layer.type]
        assert len(layer.inputs) == want, layer
        if layer.type is OUTPUT:
            assert layer.stream is P
            assert layer.pointer != "conditioned" or layer.id == "end"
            if layer.pointer == "conditioned":
                assert position["begin"] < position["end"]
                readers["begin"].add("end")
        summaries = [r for r in layer.inputs if graph[r].stream is Stream.SUMMARY]
        if layer.type is OUTPUT and layer.pointer == "bilinear":
            assert summaries == [layer.inputs[1]] and graph[layer.inputs[1]].type is LayerType.POOL
        else:
            assert not summaries, layer
        if layer.type is LayerType.POOL:
            assert layer.stream is Stream.SUMMARY and graph[layer.inputs[0]].stream is Q
        elif layer.inputs:
            assert graph[layer.inputs[0]].stream is layer.stream, layer
        assert len(set(layer.skips)) == len(layer.skips)
        assert not layer.inputs or layer.inputs[0] not in layer.skips
        for skip in layer.skips:
            assert graph[skip].stream is layer.stream, layer
        for ref in (*layer.inputs, *layer.skips):
            assert graph[ref].type is not OUTPUT
            assert position[ref] < position[layer.id]
            readers[ref].add(layer.id)
    # Every layer feeds an output; every output sees the question.
    feeds = {"begin", "end"}
    for layer_id in reversed(graph.topological_order):
        if readers[layer_id] & feeds:
            feeds.add(layer_id)
    assert feeds == set(ids)
    sees_question = {"question"}
    for layer_id in graph.topological_order:
        layer = graph[layer_id]
        conditioned = ("begin",) if layer.pointer == "conditioned" else ()
        if set(layer.inputs + layer.skips + conditioned) & sees_question:
            sees_question.add(layer_id)
    assert {"begin", "end"} <= sees_question


# --- the operator contract: every operator in default_operators() -----------------
@pytest.fixture(params=OPERATORS, ids=OPERATOR_NAMES)
def operator(request: pytest.FixtureRequest) -> MutationOperator:
    return request.param


def applications(operator: MutationOperator) -> list[tuple[Graph, Mutation]]:
    """The operator applied to every sample graph (seeded); None results dropped."""
    results = []
    for seed, graph in enumerate(sample_graphs()):
        mutation = operator.apply(graph, random.Random(seed))
        if mutation is not None:
            results.append((graph, mutation))
    return results


def edit_points(operator: MutationOperator, parent: Graph, mutation: Mutation) -> set[str]:
    """Where the operator edited the graph, read from the detail and checked against
    the graph diff: the layers whose definition changed (by local id)."""
    child, detail = mutation.graph, mutation.detail
    if isinstance(operator, Identity):
        assert detail == ""
        return set()
    if isinstance(operator, InsertLayer):
        source, new, consumer = re.fullmatch(r"(\w+)->\[(\w+)\]->(\w+)", detail).groups()
        assert new not in parent and new in child
        assert child[new].type is operator.kind
        assert child[new].inputs[0] == source and child[new].stream is parent[source].stream
        assert child[new].skips == ()
        slot = child[consumer].inputs.index(new)
        assert parent[consumer].inputs[slot] == source
        return {consumer}
    if isinstance(operator, RemoveLayer):
        victim = detail
        assert victim in parent and victim not in child
        assert parent[victim].type is operator.kind
        return set(parent.consumers(victim))
    if isinstance(operator, ToggleFeature):
        sign, feature, target = re.fullmatch(r"([+-])(\w+)@(\w+)", detail).groups()
        assert feature == operator.feature
        assert (feature in child[target].features) is (sign == "+") is (feature not in parent[target].features)
        return {target}
    if isinstance(operator, SwitchCell):
        target, cell = detail.split(":")
        assert child[target].cell == cell != (parent[target].cell or "gru")
        return {target}
    if isinstance(operator, SetWidth):
        target, old, new = re.fullmatch(r"(\w+):x(\d)->x(\d)", detail).groups()
        assert parent[target].width == int(old) and child[target].width == int(new)
        assert int(new) == (int(old) * 2 if operator.widen else int(old) // 2)
        return {target}
    if isinstance(operator, SetPointer):
        target, old, new = re.fullmatch(r"(\w+):(\w+)->(\w+)", detail).groups()
        assert parent[target].pointer == old != new == child[target].pointer == operator.kind
        return {target}
    source, target = re.fullmatch(r"(\w+)->(\w+)", detail).groups()
    if isinstance(operator, AddSkip):
        assert source not in parent[target].skips and source in child[target].skips
    else:
        assert isinstance(operator, RemoveSkip)
        assert source in parent[target].skips and source not in child[target].skips
    return {target}


def test_operator_applies_to_some_sample_graphs(operator: MutationOperator) -> None:
    """Guards the suite against passing vacuously: every operator acts on many graphs."""
    assert len(applications(operator)) >= 10


def test_result_is_a_valid_new_reader(operator: MutationOperator) -> None:
    for parent, mutation in applications(operator):
        assert mutation.operator == operator.name
        assert_valid_reader(mutation.graph)
        assert len(mutation.graph.hidden_layers) == len(parent.hidden_layers) + operator.delta
        # Round-trips like any graph (it was validated at construction).
        assert Graph.from_json(mutation.graph.to_json()) == mutation.graph


def test_operator_leaves_its_input_untouched(operator: MutationOperator) -> None:
    for seed, graph in enumerate(sample_graphs()):
        before = graph.to_json()
        operator.apply(graph, random.Random(seed))
        assert graph.to_json() == before


def test_operator_is_deterministic_given_the_rng(operator: MutationOperator) -> None:
    for seed, graph in enumerate(sample_graphs()):
        one = operator.apply(graph, random.Random(seed))
        two = operator.apply(Graph.from_json(graph.to_json()), random.Random(seed))
        assert (one is None) == (two is None)
        if one is not None:
            assert one.detail == two.detail
            assert one.graph == two.graph


def test_graph_diff_is_exactly_the_described_edit(operator: MutationOperator) -> None:
    for parent, mutation in applications(operator):
        child = mutation.graph
        points = edit_points(operator, parent, mutation)
        common = {l.id for l in parent.layers} & {l.id for l in child.layers}
        redefined = {i for i in common if parent[i] != child[i]}
        assert redefined == points
        added = {l.id for l in child.layers} - common
        removed = {l.id for l in parent.layers} - common
        if isinstance(operator, SetPointer):  # a pointer brings or takes its question summary
            assert all(l.type is LayerType.POOL for l in (*map(child.__getitem__, added),
                                                           *map(parent.__getitem__, removed)))
            assert len(added) + len(removed) <= 1
        else:
            assert len(added) == max(operator.delta, 0) and len(removed) == max(-operator.delta, 0)


def test_mutation_changes_exactly_the_hash_ids_downstream_of_its_edit(operator: MutationOperator) -> None:
    for parent, mutation in applications(operator):
        child = mutation.graph
        common = {l.id for l in parent.layers} & {l.id for l in child.layers}
        downstream = set()
        for point in edit_points(operator, parent, mutation):
            downstream |= {point} | child.descendants(point)
        changed = {i for i in common if parent.hash_id(i) != child.hash_id(i)}
        assert changed == downstream & common, mutation.detail


def test_shared_ids_are_the_kept_identities_with_unchanged_weight_shapes(operator: MutationOperator) -> None:
    for parent, mutation in applications(operator):
        child = mutation.graph
        by_uid = {l.uid: l for l in parent.layers}
        kind = lambda p: "linear" if p == "conditioned" else p  # noqa: E731 - a conditioned scorer extends a linear one
        shape = lambda l: (l.type, l.stream, l.cell, kind(l.pointer), l.residual)  # noqa: E731
        kept = {l.uid for l in child.layers if l.uid in by_uid and shape(by_uid[l.uid]) == shape(l)}
        gates = lambda g: {(g[t].uid, g[s].uid) for t in g.topological_order for s in g[t].gated_skips}  # noqa: E731
        kept_gates = {child.skip_gate_id(t, s) for t in child.topological_order for s in child[t].gated_skips
                      if (child[t].uid, child[s].uid) in gates(parent)}
        expected = kept | kept_gates | {EMBEDDING_HASH}
        assert parent.shared_ids(child) == child.shared_ids(parent) == expected
        # Rewiring never loses an identity: every layer the child keeps by name keeps its uid.
        common = {l.id for l in parent.layers} & {l.id for l in child.layers}
        assert all(parent[i].uid == child[i].uid for i in common)
        edit_points(operator, parent, mutation)  # checks the detail against the diff
        if operator.name.startswith(("insert_", "widen_")) or operator.name == "add_skip" or (
                operator.name == "pointer_conditioned" and ":linear->" in mutation.detail) or (
                operator.name.startswith("feature_") and mutation.detail.startswith("+")):
            assert parent.weight_ids() <= child.shared_ids(parent)  # growth inherits the whole parent


def test_identity_returns_the_parent_itself() -> None:
    graph = base_reader()
    mutation = Identity().apply(graph, random.Random(0))
    assert mutation == Mutation(graph, "identity", "")
    assert mutation.graph.shared_ids(graph) == graph.weight_ids()


def test_every_operator_has_a_distinct_name_and_positive_weight() -> None:
    ops = default_operators()
    assert len(set(OPERATOR_NAMES)) == len(OPERATOR_NAMES) == 23
    assert all(weight > 0 for weight in ops.values())
    assert {op.delta for op in ops if isinstance(op, InsertLayer)} == {1}
    assert {op.delta for op in ops if isinstance(op, RemoveLayer)} == {-1}
    assert {op.kind for op in ops if isinstance(op, InsertLayer)} == set(HIDDEN_TYPES)
    assert {op.kind for op in ops if isinstance(op, RemoveLayer)} == set(HIDDEN_TYPES)


@pytest.mark.parametrize("cls", [InsertLayer, RemoveLayer])
@pytest.mark.parametrize("kind", [INPUT, OUTPUT])
def test_layer_operators_reject_non_hidden_kinds(cls: type, kind: LayerType) -> None:
    verb = "insert" if cls is InsertLayer else "remove"
    with pytest.raises(ValueError, match=f"cannot {verb} a layer of type '{kind.value}'"):
        cls(kind)


def _widest_rnns() -> Graph:
    return Graph(tuple(l.replace(width=4) if l.type is RNN else l for l in base_reader().layers))


NOTHING_TO_DO = {
    "narrow_at_width_1": (SetWidth(widen=False), base_reader),
    "widen_at_width_4": (SetWidth(widen=True), _widest_rnns),
    "widen_without_rnn": (SetWidth(widen=True), minimal_reader),
    "remove_skip_without_skips": (RemoveSkip(), base_reader),
    "remove_missing_kind": (RemoveLayer(SELF), base_reader),
    "remove_only_attention": (RemoveLayer(ATT), base_reader),  # would cut off the question
    "remove_last_layer": (RemoveLayer(ATT), minimal_reader),
    "remove_rnn_from_minimal": (RemoveLayer(RNN), minimal_reader),
}


@pytest.mark.parametrize("op, build", NOTHING_TO_DO.values(), ids=NOTHING_TO_DO.keys())
def test_operator_returns_none_when_nothing_applies(op: MutationOperator, build) -> None:
    for seed in range(5):
        assert op.apply(build(), random.Random(seed)) is None


def test_remove_rnn_from_base_reader_rewires_its_consumer() -> None:
    graph = base_reader()
    results = {RemoveLayer(RNN).apply(graph, random.Random(seed)).detail for seed in range(20)}
    assert results == {"h0", "h1", "h3"}
    mutation = next(
        m for seed in range(20) if (m := RemoveLayer(RNN).apply(graph, random.Random(seed))).detail == "h3"
    )
    assert mutation.graph["begin"].inputs == ("h2",) and mutation.graph["end"].inputs == ("h2",)


def test_removing_a_layer_drops_a_skip_that_would_repeat_the_first_input() -> None:
    graph = Graph((
        Layer("question", INPUT, Q),
        Layer("passage", INPUT, P),
        Layer("r", RNN, P, ("passage",)),
        Layer("a", ATT, P, ("passage", "question"), ("r",)),
        Layer("begin", OUTPUT, P, ("a",)),
        Layer("end", OUTPUT, P, ("a",)),
    ))
    mutation = RemoveLayer(RNN).apply(graph, random.Random(0))
    assert mutation.detail == "r"
    assert mutation.graph["a"] == graph["a"].replace(skips=())


def test_inserted_attention_reads_a_memory_on_the_other_stream() -> None:
    graph = base_reader()
    for seed in range(30):
        mutation = InsertLayer(ATT).apply(graph, random.Random(seed))
        source, new, _ = re.fullmatch(r"(\w+)->\[(\w+)\]->(\w+)", mutation.detail).groups()
        memory = mutation.graph[mutation.graph[new].inputs[1]]
        assert memory.stream is not graph[source].stream


def test_inserted_layer_is_a_new_gated_residual_and_the_rest_is_inherited() -> None:
    """Inserting rnn on h2 -> h3: the new layer has a fresh identity and starts as the
    identity map (residual, gate 0); h3 is rewired, keeps its uid, and is inherited
    although its hash id (its upstream) changed."""
    parent = base_reader()
    for seed in range(50):
        mutation = InsertLayer(RNN).apply(parent, random.Random(seed))
        if mutation.detail.startswith("h2->") and mutation.detail.endswith("->h3"):
            break
    else:
        pytest.fail("no seed inserted rnn on h2 -> h3")
    child = mutation.graph
    new = child[child["h3"].inputs[0]]
    assert new.residual and new.uid not in {l.uid for l in parent.layers}
    assert child.hash_id("h3") != parent.hash_id("h3") and child.uid("h3") == parent.uid("h3")
    assert child.shared_ids(parent) == parent.weight_ids() == child.weight_ids() - {new.uid}
    again = InsertLayer(RNN).apply(parent, random.Random(seed))
    assert again.graph == child  # the new uid is deterministic


# --- the Mutator -------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"min_layers": 0}, "min_layers must be >= 1 (a reader needs an attention layer), got 0"),
        ({"min_layers": -3}, "min_layers must be >= 1 (a reader needs an attention layer), got -3"),
        ({"min_layers": 5, "max_layers": 4}, "max_layers (4) must be >= min_layers (5)"),
        ({"max_tries": 0}, "max_tries must be >= 1, got 0"),
        ({"operators": {}}, "operators need non-negative weights and at least one entry"),
        ({"operators": {Identity(): -1.0}}, "operators need non-negative weights and at least one entry"),
    ],
)
def test_mutator_rejects_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        Mutator(**kwargs)


def test_mutator_accepts_equal_bounds() -> None:
    mutator = Mutator(min_layers=3, max_layers=3)
    assert (mutator.min_layers, mutator.max_layers) == (3, 3)


def test_identity_fallback_when_bounds_rule_out_every_operator() -> None:
    graph = minimal_reader()
    mutator = Mutator(min_layers=1, operators={RemoveLayer(kind): 1.0 for kind in HIDDEN_TYPES})
    for seed in range(5):
        mutation = mutator.mutate(graph, random.Random(seed))
        assert mutation == Mutation(graph, "identity", "no operator applied")


def test_identity_fallback_when_no_operator_acts() -> None:
    graph = base_reader()
    mutator = Mutator(operators={RemoveLayer(SELF): 1.0, RemoveLayer(ATT): 2.0, RemoveSkip(): 1.0})
    for seed in range(5):
        mutation = mutator.mutate(graph, random.Random(seed))
        assert mutation.graph is graph
        assert (mutation.operator, mutation.detail) == ("identity", "no operator applied")


class CountingNoOp(MutationOperator):
    name = "counting_no_op"

    def __init__(self) -> None:
        self.calls = 0

    def apply(self, graph: Graph, rng: random.Random) -> Mutation | None:
        self.calls += 1
        return None


def test_an_operator_that_cannot_act_is_not_drawn_again() -> None:
    counting = CountingNoOp()
    mutation = Mutator(operators={counting: 1.0}, max_tries=20).mutate(base_reader(), random.Random(0))
    assert counting.calls == 1
    assert mutation.operator == "identity"


def test_mutator_falls_through_to_an_operator_that_acts() -> None:
    counting = CountingNoOp()
    mutator = Mutator(operators={counting: 100.0, AddSkip(): 1.0})
    for seed in range(5):
        assert mutator.mutate(base_reader(), random.Random(seed)).operator == "add_skip"


def test_edits_only_never_draws_identity_but_still_falls_back_to_it() -> None:
    """``edits_only`` (a controlled brood's edit children) leaves Identity out of the draw; with no
    operator that can act, the result is still the identity fallback, named as such."""
    mutator = Mutator(operators={Identity(): 100.0, AddSkip(): 1.0})
    for seed in range(20):
        assert mutator.mutate(base_reader(), random.Random(seed), edits_only=True).operator == "add_skip"
    assert any(mutator.mutate(base_reader(), random.Random(seed)).operator == "identity" for seed in range(5))
    stuck = Mutator(operators={Identity(): 1.0, CountingNoOp(): 1.0}).mutate(
        base_reader(), random.Random(0), edits_only=True)
    assert (stuck.operator, stuck.detail) == ("identity", "no operator applied")


def test_zero_weight_operators_are_never_drawn() -> None:
    mutator = Mutator(operators={InsertLayer(RNN): 0.0, RemoveLayer(RNN): 0.0, AddSkip(): 1.0})
    for seed in range(20):
        assert mutator.mutate(base_reader(), random.Random(seed)).operator == "add_skip"


def test_equal_bounds_allow_only_edge_edits() -> None:
    mutator = Mutator(min_layers=4, max_layers=4)
    graph, rng, seen = base_reader(), random.Random(7), Counter()
    for _ in range(60):
        mutation = mutator.mutate(graph, rng)
        seen[mutation.operator] += 1
        graph = mutation.graph
        assert len(graph.hidden_layers) == 4
    # Edits that keep the layer count: edges and attributes, never a layer.
    assert all(not name.startswith(("insert_", "remove_")) or name == "remove_skip" for name in seen)
    assert seen["add_skip"] > 0 and seen["remove_skip"] > 0


def test_mutate_many_reports_the_chain() -> None:
    mutator = Mutator()
    chain = mutator.mutate_many(base_reader(), random.Random(3), 4)
    rng, graph, parts = random.Random(3), base_reader(), []
    for _ in range(4):
        step = mutator.mutate(graph, rng)
        graph = step.graph
        parts.append(f"{step.operator}({step.detail})" if step.detail else step.operator)
    assert chain.operator == "chain"
    assert chain.detail == "; ".join(parts)
    assert chain.graph == graph


def test_mutate_many_away_never_ends_where_it_started() -> None:
    mutator = Mutator(operators={InsertLayer(SELF): 1.0, RemoveLayer(SELF): 1.0})
    plain = [mutator.mutate_many(base_reader(), random.Random(seed), 2) for seed in range(40)]
    assert any(m.graph == base_reader() for m in plain)  # insert then remove: back at the start
    for seed in range(40):
        chain = mutator.mutate_many(base_reader(), random.Random(seed), 2, away=True)
        assert chain.graph.fingerprint() != base_reader().fingerprint(), chain.detail


def test_mutate_many_with_no_steps_returns_the_graph() -> None:
    graph = base_reader()
    assert Mutator().mutate_many(graph, random.Random(0), 0) == Mutation(graph, "chain", "")


# --- properties over random mutation chains -------------------------------------------
@settings(max_examples=1000, deadline=None)
@given(seed=seeds, steps=st.integers(min_value=1, max_value=12))
def test_random_mutation_chains_stay_valid(seed: int, steps: int) -> None:
    """1,000 chains of up to 12 steps; every intermediate graph is a valid reader."""
    mutator, rng, graph = Mutator(), random.Random(seed), base_reader()
    for _ in range(steps):
        graph = mutator.mutate(graph, rng).graph
        assert_valid_reader(graph)


@st.composite
def bounded_start(draw: st.DrawFn) -> tuple[Graph, int, int]:
    rng, steps = random.Random(draw(seeds)), draw(st.integers(min_value=0, max_value=10))
    graph = Mutator(max_layers=10).mutate_many(base_reader(), rng, steps).graph
    count = len(graph.hidden_layers)
    low = draw(st.integers(min_value=1, max_value=count))
    high = draw(st.integers(min_value=count, max_value=count + 3))
    return graph, low, high


@settings(max_examples=100, deadline=None)
@given(start=bounded_start(), seed=seeds)
def test_hidden_layer_count_stays_within_bounds(start: tuple[Graph, int, int], seed: int) -> None:
    graph, low, high = start
    mutator, rng = Mutator(min_layers=low, max_layers=high), random.Random(seed)
    for _ in range(15):
        graph = mutator.mutate(graph, rng).graph
        assert low <= len(graph.hidden_layers) <= high


def test_bounds_are_reached_but_not_crossed() -> None:
    mutator, counts = Mutator(min_layers=2, max_layers=5), Counter()
    for seed in range(30):
        rng, graph = random.Random(seed), base_reader()
        for _ in range(20):
            graph = mutator.mutate(graph, rng).graph
            counts[len(graph.hidden_layers)] += 1
    assert min(counts) == 2 and max(counts) == 5


@settings(max_examples=60, deadline=None)
@given(seed=seeds, steps=st.integers(min_value=1, max_value=12))
def test_same_seed_same_result(seed: int, steps: int) -> None:
    one = Mutator().mutate_many(base_reader(), random.Random(seed), steps)
    two = Mutator().mutate_many(base_reader(), random.Random(seed), steps)
    assert one == two
    assert one.graph.to_json() == two.graph.to_json()


@settings(max_examples=60, deadline=None)
@given(seed=seeds, steps=st.integers(min_value=1, max_value=10))
def test_replay_from_json_gives_the_same_chain(seed: int, steps: int) -> None:
    """A search resumed from its journal reloads every graph from JSON; the same
    seeds must then give the same children as the uninterrupted run."""
    mutator = Mutator()
    live_rng, replay_rng = random.Random(seed), random.Random(seed)
    live = replayed = base_reader()
    for _ in range(steps):
        step = mutator.mutate(live, live_rng)
        again = mutator.mutate(Graph.from_json(replayed.to_json()), replay_rng)
        assert (again.operator, again.detail) == (step.operator, step.detail)
        live, replayed = step.graph, again.graph
        assert replayed == live


def test_different_seeds_explore_different_readers() -> None:
    fingerprints = {
        Mutator().mutate_many(base_reader(), random.Random(seed), 6).graph.fingerprint() for seed in range(20)
    }
    assert len(fingerprints) >= 15


def test_random_chains_exercise_every_operator() -> None:
    mutator, seen = Mutator(), Counter()
    starts = [preset(name) for name in PRESETS]
    for seed in range(160):
        rng, graph = random.Random(seed), starts[seed % len(starts)]
        for _ in range(8):
            mutation = mutator.mutate(graph, rng)
            seen[mutation.operator] += 1
            graph = mutation.graph
    assert set(seen) == set(OPERATOR_NAMES)
    # narrow_rnn acts only on a layer an earlier widen_rnn widened.
    assert min(n for name, n in seen.items() if name != "narrow_rnn") >= 10 and seen["narrow_rnn"] >= 1

"""The ``search_space`` option: seeding from presets, restricting layer types, features and weights."""

from __future__ import annotations

import random
import re

import pytest

from ga_squad.store.engine import SearchEngine
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.search.graph import Graph, LayerType, base_reader
from ga_squad.search.mutations import InsertLayer, SetPointer, ToggleFeature
from ga_squad.search.mutator import default_operators
from ga_squad.store.paths import SearchLayout
from ga_squad.search.presets import preset
from ga_squad.search.space import SearchSpace
from ga_squad.search.vocabulary import FEATURES


def test_bilinear_pointer_brings_a_pool_and_the_last_one_takes_it_away() -> None:
    graph = base_reader()
    with_pool = SetPointer("bilinear").apply(graph, random.Random(0)).graph
    pools = [l for l in with_pool.layers if l.type is LayerType.POOL]
    assert len(pools) == 1
    both = SetPointer("bilinear").apply(with_pool, random.Random(1)).graph
    assert [l for l in both.layers if l.type is LayerType.POOL] == pools  # reused, not a second pool
    assert both["begin"].inputs[1] == both["end"].inputs[1] == pools[0].id
    one_left = SetPointer("linear").apply(both, random.Random(2)).graph
    assert pools[0].id in one_left
    none_left = SetPointer("linear").apply(one_left, random.Random(3)).graph
    assert not any(l.type is LayerType.POOL for l in none_left.layers)
    assert none_left == graph


def test_aligned_feature_is_toggled_on_the_passage_only() -> None:
    graph = base_reader()
    for seed in range(10):
        mutation = ToggleFeature("aligned").apply(graph, random.Random(seed))
        assert mutation.detail == "+aligned@passage"
        assert ToggleFeature("aligned").apply(mutation.graph, random.Random(seed)).graph == graph


def test_inserted_bidaf_reads_a_memory_on_the_other_stream() -> None:
    graph = base_reader()
    for seed in range(20):
        child = InsertLayer(LayerType.BIDAF).apply(graph, random.Random(seed)).graph
        new = next(l for l in child.layers if l.type is LayerType.BIDAF)
        assert child[new.inputs[0]].stream is not child[new.inputs[1]].stream


def test_operator_weights_and_restrictions() -> None:
    ops = {op.name: w for op, w in default_operators(
        {"insert_bidaf": 3.0, "switch_cell": 0}, layer_types=["rnn", "bidaf"], features=["aligned"],
        pointers=["bilinear"]).items()}
    assert ops["insert_bidaf"] == 3.0 and ops["switch_cell"] == 0.0
    assert {n for n in ops if n.startswith(("insert_", "remove_")) and n != "remove_skip"} == {
        "insert_rnn", "remove_rnn", "insert_bidaf", "remove_bidaf"}
    assert {n for n in ops if n.startswith("feature_")} == {"feature_aligned"}
    assert {n for n in ops if n.startswith("pointer_")} == {"pointer_bilinear"}


@pytest.mark.parametrize("kwargs, message", [
    ({"weights": {"insert_conv": 1.0}}, "unknown mutation 'insert_conv'; expected some of ["),
    ({"weights": {"identity": -1}}, "mutation 'identity' needs a non-negative weight, got -1"),
    ({"layer_types": ["lstm"]}, "unknown layer type(s) ['lstm']; expected some of ['attention', 'bidaf', 'rnn',"),
    ({"features": ["pos"]}, "unknown feature(s) ['pos']; expected some of ['exact_match', "),
])
def test_bad_operator_options_are_rejected(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        default_operators(**kwargs)


@pytest.mark.parametrize("data, message", [
    ({"preset": ["drqa"]}, "unknown search_space key(s) ['preset']; expected some of ['presets', "),
    ({"presets": ["qanet"]}, "unknown preset 'qanet'; expected one of ['base', 'drqa', 'bidaf']"),
    ({"presets": "drqa"}, "search_space.presets must be a list of names, got 'drqa'"),
    ({"mutations": [1]}, "search_space.mutations must map operator names to weights, got [1]"),
    ({"mutate_presets": "yes"}, "search_space.mutate_presets must be true or false, got 'yes'"),
    ({"exact_only": 1}, "search_space.exact_only must be true or false, got 1"),
    ({"exact_only": True, "mutations": {"remove_rnn": 1, "narrow_rnn": 0.5, "widen_rnn": 2}},
     "search_space.exact_only draws only function-preserving edits, but mutations gives a weight to "
     "['narrow_rnn', 'remove_rnn'], which it never draws"),
])
def test_bad_search_space_is_rejected(data: dict, message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}"):
        SearchSpace.from_dict(data)


def _cold_starts(space: SearchSpace, n: int, tmp_path) -> list[Graph]:
    config = EvolutionConfig(population_size=n, tournament_size=2, initial_mutations=2, seed=3)
    engine = SearchEngine(config, SearchLayout.for_experiment(tmp_path, "exp"), None,
                          strategy=space.strategy(config))
    return [Graph.from_dict(params["graph"]) for _, params in engine.request(list(range(n)))]


def test_engine_seeded_from_presets_starts_with_each_preset_then_mutates_them(tmp_path) -> None:
    space = SearchSpace.from_dict({"presets": ["drqa", "bidaf"]})
    graphs = _cold_starts(space, 6, tmp_path)
    assert graphs[:2] == [preset("drqa"), preset("bidaf")]
    assert all(g not in (preset("drqa"), preset("bidaf")) for g in graphs[2:])
    frozen = SearchSpace.from_dict({"presets": ["drqa", "bidaf"], "mutate_presets": False})
    assert _cold_starts(frozen, 4, tmp_path / "f") == [preset("drqa"), preset("bidaf")] * 2


def test_restricted_space_never_leaves_it(tmp_path) -> None:
    space = SearchSpace.from_dict({"layer_types": ["rnn"], "features": [], "pointers": [],
                                   "mutations": {"switch_cell": 0}})
    mutator = space.mutator(EvolutionConfig(max_layers=8))
    rng, graph = random.Random(0), base_reader()
    for _ in range(60):
        graph = mutator.mutate(graph, rng).graph
        assert {l.type for l in graph.hidden_layers} <= {LayerType.RNN, LayerType.ATTENTION}
        assert not graph["passage"].features and graph["end"].pointer == "linear"
        assert all(l.cell is None for l in graph.layers)


def test_exact_only_accepts_weights_for_what_it_draws_and_zero_for_the_rest() -> None:
    space = SearchSpace.from_dict({"exact_only": True, "mutations": {"widen_rnn": 2, "remove_rnn": 0,
                                                                    "feature_term_freq": 1}})
    weights = {op.name: w for op, w in space.operators().items()}
    assert weights["widen_rnn"] == 2 and weights["feature_term_freq"] == 1
    assert "remove_rnn" not in weights


def test_exact_only_keeps_the_growing_operators_and_their_growing_direction() -> None:
    ops = {op.name: op for op in default_operators(exact_only=True)}
    assert set(ops) == {"identity", "add_skip", "widen_rnn", "pointer_conditioned",
                        *(f"insert_{k.value}" for k in (LayerType.RNN, LayerType.ATTENTION,
                                                        LayerType.SELF_ATTENTION, LayerType.BIDAF)),
                        *(f"feature_{f}" for f in FEATURES)}
    assert all(op.exact for op in ops.values())
    assert not any(op.exact for op in default_operators() if op.name.startswith(("remove_", "narrow", "switch")))
    # A feature every input has cannot be added; a bilinear pointer cannot become an exact conditioned one.
    drqa = preset("drqa")
    assert ops["feature_aligned"].apply(drqa, random.Random(0)) is None  # passage-only, DrQA's passage has it
    assert ops["pointer_conditioned"].apply(drqa, random.Random(0)) is None  # DrQA's pointers are bilinear
    assert ToggleFeature("aligned").apply(drqa, random.Random(0)).detail == "-aligned@passage"


@pytest.mark.parametrize("start", ["base", "drqa", "bidaf"])
def test_exact_only_lineages_only_grow(start: str) -> None:
    """Along 40 edits no layer, feature, skip or width is ever lost and no cell or pointer changes."""
    mutator = SearchSpace.from_dict({"presets": [start], "exact_only": True}).mutator(EvolutionConfig(max_layers=8))
    rng, graph = random.Random(1), preset(start)
    drawn = set()
    for _ in range(40):
        mutation = mutator.mutate(graph, rng)
        child = mutation.graph
        drawn.add(mutation.operator)
        for layer in graph.layers:
            kept = child[layer.id]
            assert kept.uid == layer.uid and kept.cell == layer.cell, mutation
            assert set(layer.features) <= set(kept.features) and set(layer.skips) <= set(kept.skips), mutation
            assert (kept.width or 1) >= (layer.width or 1), mutation
            assert kept.pointer == layer.pointer or (layer.pointer, kept.pointer) == ("linear", "conditioned")
        graph = child
    assert len(drawn) >= 4  # more than one kind of growth was drawn

"""The graph-to-Keras compiler: names by hash id, masks everywhere, GloVe rows.

Tiny models and synthetic id arrays (eager forward passes, no training), plus
one check against the bundled GloVe sample.
"""

from __future__ import annotations

import os
import random
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ga_squad.reader.config import ModelConfig  # noqa: E402
from ga_squad.search.graph import EMBEDDING_HASH, Graph, Layer, LayerType, Stream, base_reader  # noqa: E402
from ga_squad.reader.model import NEG_INF, build_model, count_params, hash_of_layer, weights_by_hash  # noqa: E402
from ga_squad.search.mutator import Mutator  # noqa: E402
from ga_squad.search.presets import PRESETS, preset  # noqa: E402
from ga_squad.search.vocabulary import FEATURE_COLUMNS  # noqa: E402

VOCAB, CHARS = 50, 20
CFG = ModelConfig.tiny()
DATA = Path(__file__).resolve().parents[1] / "data"
Q, P = Stream.QUESTION, Stream.PASSAGE
PRESET_GRAPHS = [preset(name) for name in PRESETS]


def every_type_reader() -> Graph:
    """Every layer type and a skip edge, attention in both directions."""
    return Graph((
        Layer("question", LayerType.INPUT, Q),
        Layer("passage", LayerType.INPUT, P),
        Layer("h0", LayerType.RNN, Q, ("question",)),
        Layer("h1", LayerType.SELF_ATTENTION, P, ("passage",)),
        Layer("h2", LayerType.ATTENTION, Q, ("h0", "h1")),
        Layer("h3", LayerType.ATTENTION, P, ("h1", "h2")),
        Layer("h4", LayerType.RNN, P, ("h3",), skips=("h1",)),
        Layer("begin", LayerType.OUTPUT, P, ("h4",)),
        Layer("end", LayerType.OUTPUT, P, ("h4",), skips=("passage",)),
    ))


def batch(rng: np.random.Generator, q_lens: list[int], p_lens: list[int], width: int = 6) -> dict[str, np.ndarray]:
    """Right-padded random ids: words/chars are 0 exactly at padding."""
    b, lq, lp = len(q_lens), max(q_lens), max(p_lens)
    out = {
        "question_words": rng.integers(1, VOCAB, (b, lq)).astype(np.int32),
        "question_chars": rng.integers(1, CHARS, (b, lq, width)).astype(np.int32),
        "passage_words": rng.integers(1, VOCAB, (b, lp)).astype(np.int32),
        "passage_chars": rng.integers(1, CHARS, (b, lp, width)).astype(np.int32),
    }
    out["question_features"] = rng.random((b, lq, len(FEATURE_COLUMNS))).astype(np.float32)
    out["passage_features"] = rng.random((b, lp, len(FEATURE_COLUMNS))).astype(np.float32)
    for i, (q, p) in enumerate(zip(q_lens, p_lens)):
        out["question_features"][i, q:] = 0
        out["passage_features"][i, p:] = 0
        out["question_words"][i, q:] = 0
        out["question_chars"][i, q:] = 0
        out["passage_words"][i, p:] = 0
        out["passage_chars"][i, p:] = 0
    out["passage_chars"][:, :, width - 2:] = 0  # short words: char padding too
    return out


def forward(model: keras.Model, inputs: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    out = model(inputs, training=False)
    return np.asarray(out["begin"]), np.asarray(out["end"])


_BUILT: dict[str, keras.Model] = {}


def built(graph: Graph) -> keras.Model:
    """One tiny model per graph for the whole module (building costs ~1 s)."""
    key = graph.fingerprint()
    if key not in _BUILT:
        keras.utils.set_random_seed(0)
        _BUILT[key] = build_model(graph, CFG, VOCAB, CHARS)
    return _BUILT[key]


def mutated_graphs(n: int) -> list[Graph]:
    mutator = Mutator(max_layers=6)
    seeds = [base_reader(), *PRESET_GRAPHS]
    return [mutator.mutate_many(seeds[seed % len(seeds)], random.Random(seed), steps=4).graph for seed in range(n)]


@pytest.mark.parametrize("graph", [base_reader(), every_type_reader(), *PRESET_GRAPHS],
                         ids=["base", "every_type", *(f"preset_{n}" for n in PRESETS)])
def test_every_graph_layer_has_a_keras_layer_named_by_its_hash(graph: Graph) -> None:
    model = built(graph)
    names = [layer.name for layer in model.layers]
    assert all("/" not in name for name in names)
    for layer_id in graph.topological_order:
        h = graph.hash_id(layer_id)
        assert f"{h}_{graph[layer_id].type.value}" in names, layer_id
    groups = weights_by_hash(model)
    assert set(groups) == set(graph.weight_ids())
    for h, variables in groups.items():
        assert variables, h
        assert all(v.path.startswith(f"{h}_") for v in variables)
    assert EMBEDDING_HASH in groups
    assert count_params(groups) == sum(int(np.prod(v.shape)) for v in model.weights)
    assert hash_of_layer("question_words") is None


def test_variable_paths_are_the_same_in_every_build() -> None:
    """Warm-starting matches names across processes: no auto-numbered layer names."""
    first = [v.path for v in built(every_type_reader()).weights]
    second = [v.path for v in build_model(every_type_reader(), CFG, VOCAB, CHARS).weights]
    assert first == second
    assert len(set(first)) == len(first)


@pytest.mark.parametrize("graph", mutated_graphs(5), ids=lambda g: g.fingerprint()[:8])
def test_random_mutated_graphs_compile_and_mask_padding(graph: Graph) -> None:
    model = built(graph)
    inputs = batch(np.random.default_rng(0), q_lens=[4, 2, 5], p_lens=[9, 3, 7])
    begin, end = forward(model, inputs)
    real = inputs["passage_words"] != 0
    for logits in (begin, end):
        assert logits.shape == real.shape
        assert np.all(np.isfinite(logits[real])) and np.all(np.abs(logits[real]) < 1e3)
        assert np.all(logits[~real] <= NEG_INF / 2)


@pytest.mark.parametrize("graph", [every_type_reader(), base_reader(), *PRESET_GRAPHS],
                         ids=["every_type", "base", *(f"preset_{n}" for n in PRESETS)])
def test_padding_does_not_change_logits(graph: Graph) -> None:
    """Wider padding, and junk chars under padded words, leave real positions' logits alone."""
    model = built(graph)
    rng = np.random.default_rng(3)
    inputs = batch(rng, q_lens=[4, 2], p_lens=[7, 3])
    padded = {k: np.pad(v, [(0, 0), (0, 5)] + [(0, 0)] * (v.ndim - 2)) for k, v in inputs.items()}
    junk = padded["passage_chars"]
    junk[padded["passage_words"] == 0] = rng.integers(1, CHARS, junk[padded["passage_words"] == 0].shape)
    junk_q = padded["question_chars"]
    junk_q[padded["question_words"] == 0] = rng.integers(1, CHARS, junk_q[padded["question_words"] == 0].shape)
    begin, end = forward(model, inputs)
    begin2, end2 = forward(model, padded)
    real = inputs["passage_words"] != 0
    lp = real.shape[1]
    np.testing.assert_allclose(begin2[:, :lp][real], begin[real], atol=1e-5)
    np.testing.assert_allclose(end2[:, :lp][real], end[real], atol=1e-5)
    assert np.all(begin2[:, lp:] <= NEG_INF / 2)
    # Each row on its own (no padding beyond its length) gives the same logits.
    for i in range(2):
        single = {k: v[i:i + 1] for k, v in inputs.items()}
        keep_p = int(real[i].sum())
        keep_q = int((inputs["question_words"][i] != 0).sum())
        single = {k: (v[:, :keep_p] if k.startswith("passage") else v[:, :keep_q]) for k, v in single.items()}
        b1, _ = forward(model, single)
        np.testing.assert_allclose(b1[0], begin[i, :keep_p], atol=1e-5)


def test_glove_rows_are_copied_exactly_and_fixed_table_is_not_trainable() -> None:
    from ga_squad.reader.glove import read_glove

    glove = read_glove(DATA / "glove.sample.50d.txt")
    words = ["the", "university", glove.words[-1]]
    rng = np.random.default_rng(0)
    matrix = rng.normal(0, 0.1, (len(words) + 2, 50)).astype(np.float32)
    matrix[0] = 0.0
    for i, w in enumerate(words, start=2):
        matrix[i] = glove.get(w)
    cfg = ModelConfig(word_dim=50, char_dim=4, char_filters=4, hidden=8, heads=2, dropout=0.0)
    model = build_model(base_reader(), cfg, len(matrix), CHARS, embeddings=matrix, fix_embeddings=True)
    (table,) = [v for v in weights_by_hash(model)[EMBEDDING_HASH] if "word_embedding" in v.path]
    for i, w in enumerate(words, start=2):
        np.testing.assert_array_equal(np.asarray(table)[i], glove.get(w))
    assert not table.trainable
    assert all("word_embedding" not in v.path for v in model.trainable_variables)
    tuned = build_model(base_reader(), cfg, len(matrix), CHARS, embeddings=matrix, fix_embeddings=False)
    assert any("word_embedding" in v.path for v in tuned.trainable_variables)


def test_embedding_matrix_of_the_wrong_shape_is_rejected() -> None:
    with pytest.raises(ValueError, match="word_dim"):
        build_model(base_reader(), CFG, VOCAB, CHARS, embeddings=np.zeros((VOCAB, CFG.word_dim + 1), np.float32))


def test_model_without_chars_and_with_lstm_builds() -> None:
    cfg = ModelConfig(word_dim=8, char_dim=4, char_filters=4, hidden=8, heads=2, dropout=0.1,
                      use_chars=False, rnn_cell="lstm")
    keras.utils.set_random_seed(0)
    model = build_model(base_reader(), cfg, VOCAB, CHARS)
    begin, _ = forward(model, batch(np.random.default_rng(0), [3, 2], [5, 4]))
    assert begin.shape == (2, 5)
    assert not any("char" in v.path for v in model.weights)


# --- graph vocabulary v2: features, pointers ------------------------------------
def test_feature_columns_reach_only_the_graphs_that_use_them() -> None:
    """Changing a token's feature values moves drqa's logits (it reads them) and not base's."""
    inputs = batch(np.random.default_rng(5), q_lens=[4, 3], p_lens=[8, 6])
    flipped = dict(inputs, passage_features=inputs["passage_features"][:, ::-1].copy())
    flipped["passage_features"][inputs["passage_words"] == 0] = 0
    for graph, moves in ((preset("drqa"), True), (base_reader(), False)):
        before, _ = forward(built(graph), inputs)
        after, _ = forward(built(graph), flipped)
        real = inputs["passage_words"] != 0
        assert (not np.allclose(before[real], after[real], atol=1e-6)) is moves, graph.fingerprint()


def test_graph_using_a_feature_the_data_lacks_is_rejected_naming_the_layer() -> None:
    from ga_squad.search.graph import GraphError

    with pytest.raises(GraphError, match=r"^input 'passage' uses feature 'term_freq', but the data was not "
                                         r"prepared with column\(s\) \['term_freq'\]"):
        build_model(preset("drqa"), CFG, VOCAB, CHARS, data_features=FEATURE_COLUMNS[:5])
    # The aligned embedding is computed by the model: no data column needed.
    aligned_only = Graph(tuple(l.replace(features=("aligned",)) if l.id == "passage" else l
                               for l in preset("drqa").layers))
    build_model(aligned_only, CFG, VOCAB, CHARS, data_features=())


@pytest.mark.parametrize("end_pointer, moves", [("conditioned", True), ("linear", False)])
def test_conditioned_end_pointer_reads_the_begin_distribution(end_pointer: str, moves: bool) -> None:
    """Changing only the begin pointer's weights changes a conditioned end's logits, never a linear end's."""
    graph = Graph(tuple(l.replace(pointer=end_pointer) if l.id == "end" else l for l in preset("bidaf").layers))
    model = build_model(graph, CFG, VOCAB, CHARS)
    inputs = batch(np.random.default_rng(6), q_lens=[4], p_lens=[8])
    _, end = forward(model, inputs)
    begin_layer = model.get_layer(f"{graph.hash_id('begin')}_output")
    rng = np.random.default_rng(7)
    for v in begin_layer.weights:  # a sharply different begin distribution
        v.assign(rng.normal(0.0, 10.0, v.shape).astype(np.float32))
    _, end2 = forward(model, inputs)
    assert bool(np.max(np.abs(end - end2)) > 0) is moves

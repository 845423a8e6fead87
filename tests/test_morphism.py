"""Growing mutations are function-preserving: a child starts where its parent ended.

A briefly trained parent (the tiny reader, real sample questions) is published;
each growing mutation's child is built fresh and warm-started from it, and its
begin/end logits before training must equal the parent's on a batch of real
questions. Inherited-parameter counts are checked against the parent's own
variables, counted independently of the loader.
"""

from __future__ import annotations

import dataclasses
import os
import random
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ga_squad.reader.arrays import iterate_batches  # noqa: E402
from ga_squad.reader.checkpoint import read_manifest  # noqa: E402
from ga_squad.reader.warm_start import load_shared  # noqa: E402
from ga_squad.reader.config import ModelConfig, TrainConfig  # noqa: E402
from ga_squad.reader.data_cache import load_dataset  # noqa: E402
from ga_squad.reader.dataset import DataConfig, Dataset  # noqa: E402
from ga_squad.reader.model import INPUT_KEYS, build_model, weights_by_hash  # noqa: E402
from ga_squad.reader.training import data_fingerprint, make_steps, run_trial  # noqa: E402
from ga_squad.store.contract import TrialParams  # noqa: E402
from ga_squad.search.graph import Graph, LayerType, base_reader  # noqa: E402
from ga_squad.search.mutations import (  # noqa: E402
    AddSkip,
    InsertLayer,
    MutationOperator,
    SetWidth,
    ToggleFeature,
)
from ga_squad.search.mutator import default_operators  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
MODEL = dataclasses.replace(ModelConfig.tiny(), word_dim=50)
TRAIN = TrainConfig(epochs=1, batch_size=16, eval_batch_size=32, learning_rate=3e-3)
# Every operator that ``search_space.exact_only`` draws, except identity (nothing to check) and
# widen_rnn (its Net2Wider tests below need a trained parent per cell type).
GROWING: list[MutationOperator] = [op for op in default_operators(exact_only=True)
                                   if op.name not in ("identity", "widen_rnn")]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    cfg = DataConfig(str(DATA / "squad_train_sample.json"), str(DATA / "squad_dev_sample.json"),
                     str(DATA / "glove.sample.50d.txt"), max_passage_len=100,
                     train_limit=48, dev_limit=24, val_limit=24)
    return load_dataset(cfg, tmp_path_factory.mktemp("cache"))


@pytest.fixture(scope="module")
def parent(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[Graph, str, dict]:
    """A trained parent that already has a gated skip and a gated residual layer (grown twice)."""
    graph = base_reader()
    for op, seed in ((InsertLayer(LayerType.SELF_ATTENTION), 1), (AddSkip(), 2)):
        graph = op.apply(graph, random.Random(seed)).graph
    save_dir = str(tmp_path_factory.mktemp("search") / "000000")
    result = run_trial(TrialParams(0, None, graph, None, save_dir, None, seed=3), data, MODEL, TRAIN)
    return graph, save_dir, result


def build(graph: Graph, data: Dataset, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_model(graph, MODEL, len(data.word_vocab), len(data.char_vocab), data.embeddings)


def published(graph: Graph, save_dir: str | Path, data: Dataset) -> keras.Model:
    """``graph`` built and loaded whole from the checkpoint in ``save_dir``."""
    model = build(graph, data, seed=0)
    load_shared(model, save_dir, graph.weight_ids(), graph=graph)
    return model


def batch(data: Dataset) -> dict[str, np.ndarray]:
    return {k: v for k, v in next(iterate_batches(data.dev, 24)).items() if k in INPUT_KEYS}


@pytest.fixture(scope="module")
def parent_outputs(parent, data: Dataset) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], int]:
    """The published parent's inputs, logits and parameter count (built once: every growing test compares to it)."""
    parent_model = published(parent[0], parent[1], data)
    inputs = batch(data)
    want = {k: np.asarray(v) for k, v in parent_model(inputs).items()}
    return inputs, want, sum(int(np.prod(v.shape)) for v in parent_model.weights)


def warm_child(graph: Graph, parent: tuple[Graph, str, dict], data: Dataset, seed: int):
    model = build(graph, data, seed)
    report = load_shared(model, parent[1], graph.shared_ids(parent[0]), data_fingerprint=data_fingerprint(data),
                         model_fingerprint=MODEL.fingerprint(), graph=graph)
    return model, report


@pytest.mark.parametrize("operator", GROWING, ids=lambda op: op.name)
def test_growing_child_computes_its_parents_logits_and_inherits_every_parent_parameter(
        operator: MutationOperator, parent, parent_outputs, data: Dataset) -> None:
    graph, _, _ = parent
    inputs, want, parent_params = parent_outputs
    for seed in range(4):  # the first seed whose mutation grows the parent
        mutation = operator.apply(graph, random.Random(seed))
        if mutation is not None:
            break
    else:
        pytest.fail(f"{operator.name} found nothing to grow")
    child, report = warm_child(mutation.graph, parent, data, seed=10 + seed)
    got = child(inputs)
    for key in ("begin", "end"):
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=1e-4, atol=1e-6,
                                   err_msg=f"{operator.name} {mutation.detail}: {key} logits differ")
    child_params = sum(int(np.prod(v.shape)) for v in child.weights)
    assert report.inherited_params == parent_params, mutation.detail
    assert report.fresh_params == child_params - parent_params > 0, mutation.detail


def test_new_gate_and_new_layer_learn_from_the_first_steps(parent, data: Dataset) -> None:
    graph, _, _ = parent
    mutation = InsertLayer(LayerType.RNN).apply(graph, random.Random(0))
    new = mutation.graph[next(l.id for l in mutation.graph.layers if l.uid not in set(graph.uids.values()))]
    child, _ = warm_child(mutation.graph, parent, data, seed=5)
    groups = weights_by_hash(child)
    gate = next(v for v in groups[new.uid] if v.path.endswith("residual/gate"))
    kernels = [v for v in groups[new.uid] if "kernel" in v.path]
    before = [np.array(v.numpy()) for v in kernels]
    steps = make_steps(child, TRAIN)
    for b in list(iterate_batches(data.train, 16))[:3]:
        steps.train({k: b[k] for k in INPUT_KEYS}, b["begin"], b["end"])
    assert float(gate.numpy()) != 0.0
    assert any(not np.array_equal(v.numpy(), w) for v, w in zip(kernels, before))


@pytest.mark.parametrize("operator", [ToggleFeature("exact_match"), SetWidth(widen=True)], ids=lambda op: op.name)
def test_trial_child_starts_at_its_parents_validation_score(operator: MutationOperator, parent, data: Dataset,
                                                            tmp_path: Path) -> None:
    """Through the trial path (contract -> warm start -> first validation score)."""
    graph, save_dir, result = parent
    child_graph = operator.apply(graph, random.Random(0)).graph
    assert child_graph.hash_id("begin") != graph.hash_id("begin")  # under hash ids nothing would be inherited
    params = TrialParams(1, 0, child_graph, save_dir, str(tmp_path / "000001"), child_graph.shared_ids(graph),
                         mutation="test", seed=4)
    child = run_trial(params, data, MODEL, TRAIN.override(epochs=0))  # the start is scored before any training
    assert child["initial_val_f1"] == pytest.approx(result["val_f1"], abs=1e-6)
    assert child["initial_val_loss"] == pytest.approx(result["val_loss"], rel=1e-4)
    layer_ids = read_manifest(tmp_path / "000001")["layer_ids"]
    assert layer_ids["begin"] == {"uid": graph.uid("begin"), "hash_id": child_graph.hash_id("begin")}



@pytest.fixture(scope="module")
def trained(parent, data: Dataset, tmp_path_factory: pytest.TempPathFactory):
    """``graph -> (checkpoint dir, model loaded from it)``: ``graph`` trained cold for an epoch, once per module.

    The parent fixture already is that for its own graph, and the Net2Wider tests
    widen and narrow the same layer of it: each graph trains once, not once per test.
    """
    dirs = {parent[0].fingerprint(): Path(parent[1])}  # the parent trained with the same seed and settings

    def get(graph: Graph) -> tuple[Path, keras.Model]:
        key = graph.fingerprint()
        if key not in dirs:
            dirs[key] = tmp_path_factory.mktemp("trained") / "000000"
            run_trial(TrialParams(0, None, graph, None, str(dirs[key]), None, seed=3), data, MODEL, TRAIN)
        return dirs[key], published(graph, dirs[key], data)

    return get


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_widened_rnn_computes_its_parents_logits_from_parent_weights_only(cell: str, parent, trained,
                                                                          data: Dataset) -> None:
    """Net2Wider: x1 -> x2 -> x4, each step exact, every scalar of the child set from its parent."""
    assert MODEL.rnn_cell == "gru" and all(l.cell is None for l in parent[0].layers)  # the parent's RNNs are GRUs
    graph = parent[0] if cell == "gru" else Graph(tuple(l.replace(cell=cell) if l.type is LayerType.RNN else l
                                                        for l in parent[0].layers))
    inputs = batch(data)
    widened = None
    for step in range(2):
        parent_dir, model = trained(graph)
        want = model(inputs)
        # The first seed that widens the same layer again (the graph has several RNNs).
        mutation = next(m for seed in range(50) for m in (SetWidth(widen=True).apply(graph, random.Random(seed)),)
                        if widened is None or m.detail.startswith(f"{widened}:"))
        rnn_id, widths = mutation.detail.split(":")
        widened = rnn_id
        assert widths == f"x{2 ** step}->x{2 ** (step + 1)}"
        child, report = warm_child(mutation.graph, (graph, str(parent_dir), None), data, seed=20 + step)
        got = child(inputs)
        for key in ("begin", "end"):
            np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=1e-4, atol=1e-5,
                                       err_msg=f"{cell} {mutation.detail}: {key} logits differ")
        assert report.fresh_params == 0
        assert report.inherited_params == sum(int(np.prod(v.shape)) for v in child.weights)
        assert report.inherited_params > sum(int(np.prod(v.shape)) for v in model.weights)
        # The copies must not stay twins: their outgoing shares differ, so training can tell them apart.
        kernel = next(v for v in weights_by_hash(child)[mutation.graph.uid(rnn_id)] if v.path.endswith("proj/kernel"))
        rows = np.asarray(kernel.numpy())
        old_units = MODEL.hidden // 2 * 2 ** step
        assert not np.allclose(rows[:old_units], rows[old_units:2 * old_units])
        graph = mutation.graph


def test_widening_an_inserted_residual_rnn_keeps_its_trained_gate_and_logits(parent, trained,
                                                                            data: Dataset) -> None:
    """The RNN an ``insert_rnn`` child grew (``x + g * rnn(x)``), once trained, widens exactly (gate included)."""
    grown = InsertLayer(LayerType.RNN).apply(parent[0], random.Random(0))
    new_id = next(l.id for l in grown.graph.layers if l.uid not in set(parent[0].uids.values()))
    grown_dir, grown_model = trained(grown.graph)
    gate = next(v for v in weights_by_hash(grown_model)[grown.graph.uid(new_id)] if v.path.endswith("/gate"))
    assert float(gate.numpy()) != 0.0  # trained: the residual branch contributes
    mutation = next(m for seed in range(50) for m in (SetWidth(widen=True).apply(grown.graph, random.Random(seed)),)
                    if m.detail.startswith(f"{new_id}:"))
    child, report = warm_child(mutation.graph, (grown.graph, str(grown_dir), None), data, seed=7)
    inputs = batch(data)
    want, got = grown_model(inputs), child(inputs)
    for key in ("begin", "end"):
        np.testing.assert_allclose(np.asarray(got[key]), np.asarray(want[key]), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{mutation.detail}: {key} logits differ")
    assert report.fresh_params == 0


def _first_units(value: np.ndarray, units: int, recurrent: bool) -> np.ndarray:
    """The first ``units`` of every gate block (and, for a recurrent kernel, of its rows)."""
    blocks = value.reshape(*value.shape[:-1], -1, 2 * units)[..., :units]
    out = blocks.reshape(*value.shape[:-1], -1)
    return out[:units] if recurrent else out


def test_narrowed_rnn_keeps_the_first_units_of_every_gate(parent, trained, data: Dataset) -> None:
    graph = parent[0]
    wide = SetWidth(widen=True).apply(graph, random.Random(0)).graph
    wide_dir, wide_model = trained(wide)
    narrow = SetWidth(widen=False).apply(wide, random.Random(0))
    assert narrow.graph.hash_ids == graph.hash_ids  # back to the parent's structure
    child, report = warm_child(narrow.graph, (wide, str(wide_dir), None), data, seed=3)
    uid = graph.uid(narrow.detail.split(":")[0])
    stored = {v.path: np.asarray(v.numpy()) for v in weights_by_hash(wide_model)[uid]}
    mine = weights_by_hash(child)[uid]
    assert {v.path for v in mine} == {p for p in stored if "/proj/" not in p}  # width 1: no projection
    for var in mine:
        want = _first_units(stored[var.path], MODEL.hidden // 2, var.path.endswith("/recurrent_kernel"))
        np.testing.assert_array_equal(np.asarray(var.numpy()), want, err_msg=var.path)
    assert report.fresh_params == 0
    assert np.isfinite(np.asarray(child(batch(data))["begin"])).all()

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
from ga_squad.search.contract import TrialParams  # noqa: E402
from ga_squad.search.graph import Graph, LayerType, base_reader  # noqa: E402
from ga_squad.search.mutations import AddSkip, InsertLayer, MutationOperator, SetPointer, ToggleFeature  # noqa: E402
from ga_squad.search.vocabulary import CONDITIONED, FEATURES  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
MODEL = dataclasses.replace(ModelConfig.tiny(), word_dim=50)
TRAIN = TrainConfig(epochs=1, batch_size=16, eval_batch_size=32, learning_rate=3e-3)
GROWING: list[MutationOperator] = [
    *(InsertLayer(k) for k in (LayerType.RNN, LayerType.ATTENTION, LayerType.SELF_ATTENTION, LayerType.BIDAF)),
    AddSkip(),
    *(ToggleFeature(f) for f in FEATURES),
    SetPointer(CONDITIONED),
]


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


def batch(data: Dataset) -> dict[str, np.ndarray]:
    return {k: v for k, v in next(iterate_batches(data.dev, 24)).items() if k in INPUT_KEYS}


def warm_child(graph: Graph, parent: tuple[Graph, str, dict], data: Dataset, seed: int):
    model = build(graph, data, seed)
    report = load_shared(model, parent[1], graph.shared_ids(parent[0]), data_fingerprint=data_fingerprint(data),
                         model_fingerprint=MODEL.fingerprint(), graph=graph)
    return model, report


@pytest.mark.parametrize("operator", GROWING, ids=lambda op: op.name)
def test_growing_child_computes_its_parents_logits_and_inherits_every_parent_parameter(
        operator: MutationOperator, parent, data: Dataset) -> None:
    graph, _, _ = parent
    parent_model = build(graph, data, seed=0)
    load_shared(parent_model, parent[1], graph.weight_ids(), graph=graph)
    inputs = batch(data)
    want = parent_model(inputs)
    parent_params = sum(int(np.prod(v.shape)) for v in parent_model.weights)
    for seed in range(4):  # the first seed whose mutation grows the parent
        mutation = operator.apply(graph, random.Random(seed))
        if mutation is not None and not mutation.detail.startswith("-"):  # not a toggle that removed a feature
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


def test_trial_child_starts_at_its_parents_validation_score(parent, data: Dataset, tmp_path: Path) -> None:
    """Through the trial path (contract -> warm start -> first validation score)."""
    graph, save_dir, result = parent
    child_graph = ToggleFeature("exact_match").apply(graph, random.Random(0)).graph
    assert child_graph.hash_id("begin") != graph.hash_id("begin")  # under hash ids nothing would be inherited
    params = TrialParams(1, 0, child_graph, save_dir, str(tmp_path / "000001"), child_graph.shared_ids(graph),
                         mutation="test", seed=4)
    child = run_trial(params, data, MODEL, TRAIN)
    assert child["initial_val_f1"] == pytest.approx(result["val_f1"], abs=1e-6)
    assert child["initial_val_loss"] == pytest.approx(result["val_loss"], rel=1e-4)
    layer_ids = read_manifest(tmp_path / "000001")["layer_ids"]
    assert layer_ids["begin"] == {"uid": graph.uid("begin"), "hash_id": child_graph.hash_id("begin")}

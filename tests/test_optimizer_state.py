"""Adam's state published with the weights: a child continues its parent's training exactly.

Tiny reader on a few dozen real questions of the bundled sample.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ga_squad.reader import optimizer_state  # noqa: E402
from ga_squad.reader.arrays import iterate_batches  # noqa: E402
from ga_squad.reader.checkpoint import checkpoint_dir, publish_checkpoint, read_checkpoint_state  # noqa: E402
from ga_squad.reader.config import ModelConfig, TrainConfig  # noqa: E402
from ga_squad.reader.data_cache import load_dataset  # noqa: E402
from ga_squad.reader.dataset import DataConfig, Dataset  # noqa: E402
from ga_squad.reader.model import INPUT_KEYS, build_model, weights_by_hash  # noqa: E402
from ga_squad.reader.training import StepFunctions, data_fingerprint, make_steps  # noqa: E402
from ga_squad.reader.warm_start import load_shared  # noqa: E402
from ga_squad.search.graph import Graph, LayerType, base_reader  # noqa: E402
from ga_squad.search.mutations import InsertLayer  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
MODEL = dataclasses.replace(ModelConfig.tiny(), word_dim=50)
TRAIN = TrainConfig(batch_size=8, learning_rate=3e-3)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    cfg = DataConfig(str(DATA / "squad_train_sample.json"), str(DATA / "squad_dev_sample.json"),
                     str(DATA / "glove.sample.50d.txt"), max_passage_len=80, train_limit=64, dev_limit=8,
                     val_limit=8)
    return load_dataset(cfg, tmp_path_factory.mktemp("cache"))


def _model(graph: Graph, data: Dataset, seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_model(graph, MODEL, len(data.word_vocab), len(data.char_vocab), embeddings=data.embeddings,
                       data_features=data.train.feature_names)


def _batches(data: Dataset) -> list[dict[str, np.ndarray]]:
    return list(iterate_batches(data.train, TRAIN.batch_size, shuffle=True, seed=1))


def _step(steps: StepFunctions, batch: dict[str, np.ndarray]) -> None:
    steps.train({k: batch[k] for k in INPUT_KEYS}, batch["begin"], batch["end"])


def _trained_parent(data: Dataset, save_dir: Path) -> tuple[keras.Model, StepFunctions]:
    """A base reader after 3 Adam steps, published with its optimizer state."""
    graph = base_reader()
    model = _model(graph, data, seed=0)
    steps = make_steps(model, TRAIN)
    for batch in _batches(data)[:3]:
        _step(steps, batch)
    publish_checkpoint(model, save_dir, indiv_id=0, parent_id=None, graph=graph, model_config=MODEL.to_dict(),
                       model_fingerprint=MODEL.fingerprint(), data_fingerprint=data_fingerprint(data),
                       metrics={"default": 0.0}, optimizer=optimizer_state.capture(steps.optimizers))
    return model, steps


@dataclasses.dataclass(frozen=True)
class Parent:
    """The published parent, trained once for the module (three Adam steps).

    Attributes:
        save_dir: Its published checkpoint (tests that damage it use a copy).
        saved: Its Adam state by variable path when it was published.
        model: The live parent and its steps: only the identity test reads them
            (it takes the parent's next step).
        steps: See ``model``.
    """

    save_dir: Path
    saved: dict[str, optimizer_state.Moments]
    model: keras.Model
    steps: StepFunctions


@pytest.fixture(scope="module")
def parent(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> Parent:
    save_dir = tmp_path_factory.mktemp("parent") / "000000"
    model, steps = _trained_parent(data, save_dir)
    return Parent(save_dir, optimizer_state.capture(steps.optimizers), model, steps)


def _copy(parent: Parent, tmp_path: Path) -> Path:
    """A copy of the parent's individual folder (its checkpoint pointer is a relative symlink)."""
    return Path(shutil.copytree(parent.save_dir, tmp_path / "000000", symlinks=True))


def _child(data: Dataset, parent_dir: Path, graph: Graph, resume: bool) -> tuple[keras.Model, StepFunctions]:
    model = _model(graph, data, seed=7)
    report = load_shared(model, parent_dir, graph.shared_ids(base_reader()), graph=graph)
    inherited = {v.path for h in report.loaded_ids for v in weights_by_hash(model)[h]}
    return model, make_steps(model, TRAIN, inherited=inherited, resume=report.optimizer if resume else None)


def test_published_state_reads_back_exactly(parent: Parent) -> None:
    saved = parent.saved
    manifest, _, moments = read_checkpoint_state(parent.save_dir)
    assert manifest["optimizer"]["variables"] == len(saved) > 0
    read = {path: m for by_path in moments.values() for path, m in by_path.items()}
    assert set(read) == set(saved)
    for path, state in saved.items():
        assert read[path].t == state.t == 3
        np.testing.assert_array_equal(read[path].m, state.m)
        np.testing.assert_array_equal(read[path].v, state.v)
    assert any(np.any(s.v > 0) for s in saved.values())  # three steps left real moments


def test_identity_child_takes_exactly_its_parents_next_step(data: Dataset, parent: Parent) -> None:
    """Parent and child run the same 4th batch: same weights after, to float rounding.

    With a fresh Adam the child's first step is ~lr * sign(gradient) for
    every parameter, which the same comparison detects.
    """
    parent_steps = parent.steps
    assert {int(o.iterations.numpy()) for o, _ in parent_steps.optimizers} == {3}  # the published state, not stepped
    nxt = _batches(data)[3]
    resumed, resumed_steps = _child(data, parent.save_dir, base_reader(), resume=True)
    fresh, fresh_steps = _child(data, parent.save_dir, base_reader(), resume=False)
    parent_model = parent.model
    for a, b in zip(parent_model.trainable_variables, resumed.trainable_variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for steps in (parent_steps, resumed_steps, fresh_steps):
        _step(steps, nxt)
    gap_resumed = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                      for a, b in zip(parent_model.trainable_variables, resumed.trainable_variables))
    gap_fresh = max(float(np.max(np.abs(a.numpy() - b.numpy())))
                    for a, b in zip(parent_model.trainable_variables, fresh.trainable_variables))
    assert gap_resumed < 1e-6, gap_resumed
    assert gap_fresh > 1e-4, gap_fresh
    assert {int(o.iterations.numpy()) for o, _ in resumed_steps.optimizers} == {4}


def test_a_grown_child_resumes_inherited_layers_and_starts_new_ones_fresh(data: Dataset, parent: Parent) -> None:
    import random

    grown = InsertLayer(LayerType.SELF_ATTENTION).apply(base_reader(), random.Random(0))
    assert grown is not None
    model, steps = _child(data, parent.save_dir, grown.graph, resume=True)
    by_t = {int(o.iterations.numpy()): {v.path for v in variables} for o, variables in steps.optimizers}
    assert set(by_t) == {0, 3}  # fresh layers in their own Adam: no bias correction of someone else's steps
    new_ids = grown.graph.weight_ids() - grown.graph.shared_ids(base_reader())
    fresh = {v.path for h, vs in weights_by_hash(model).items() if h in new_ids for v in vs if v.trainable}
    assert fresh and fresh <= by_t[0]
    assert not fresh & by_t[3]


def test_damaged_optimizer_file_costs_only_the_optimizer_state(data: Dataset, parent: Parent, tmp_path: Path,
                                                               caplog) -> None:
    _copy(parent, tmp_path)
    where = checkpoint_dir(tmp_path / "000000").resolve()
    assert where.is_relative_to(tmp_path)  # the copy is damaged, never the shared parent
    target = where / optimizer_state.OPTIMIZER_NAME
    target.write_bytes(target.read_bytes()[:100])
    with caplog.at_level(logging.WARNING):
        manifest, arrays, moments = read_checkpoint_state(tmp_path / "000000")
    assert arrays and moments == {}
    assert "optimizer state unusable" in caplog.text and optimizer_state.OPTIMIZER_NAME in caplog.text
    model, steps = _child(data, tmp_path / "000000", base_reader(), resume=True)
    assert {int(o.iterations.numpy()) for o, _ in steps.optimizers} == {0}


def test_checkpoint_without_optimizer_state_loads_fresh(data: Dataset, tmp_path: Path) -> None:
    """Older checkpoints (no ``optimizer`` entry) still warm-start, with a fresh Adam."""
    graph = base_reader()
    model = _model(graph, data, seed=0)
    publish_checkpoint(model, tmp_path / "000000", indiv_id=0, parent_id=None, graph=graph,
                       model_config=MODEL.to_dict(), model_fingerprint=MODEL.fingerprint(),
                       data_fingerprint=data_fingerprint(data), metrics={"default": 0.0})
    manifest = json.loads((checkpoint_dir(tmp_path / "000000") / "manifest.json").read_text())
    assert "optimizer" not in manifest
    child = _model(graph, data, seed=7)
    report = load_shared(child, tmp_path / "000000", graph.shared_ids(graph), graph=graph)
    assert report.warm_start and report.optimizer == {}


def test_optimizer_groups_split_by_step_count_and_rate() -> None:
    v = [keras.Variable(np.zeros((2, 3)), name=f"w{i}") for i in range(4)]
    state = {v[0].path: optimizer_state.Moments(np.ones((2, 3)), np.ones((2, 3)), 10),
             v[1].path: optimizer_state.Moments(np.ones((2, 3)), np.ones((2, 3)), 4),
             v[2].path: optimizer_state.Moments(np.ones((3, 2)), np.ones((3, 2)), 10)}  # wrong shape
    groups = optimizer_state.optimizer_groups(v, {v[0].path: 0.5, v[1].path: 0.5}, 1.0, state)
    assert groups == [(1.0, None, [2, 3]), (0.5, 4, [1]), (0.5, 10, [0])]

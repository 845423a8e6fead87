"""The trial on the TensorFlow side: results, warm start, determinism, learning.

Tiny models on a few dozen real SQuAD questions from the bundled sample; the
learning test uses a few hundred (marked ``slow``).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import random
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from ga_squad.reader.checkpoint import read_checkpoint, read_manifest  # noqa: E402
from ga_squad.reader.config import ModelConfig, TrainConfig  # noqa: E402
from ga_squad.store.contract import TrialParams  # noqa: E402
from ga_squad.reader.data_cache import load_dataset  # noqa: E402
from ga_squad.reader.dataset import DataConfig, Dataset  # noqa: E402
from ga_squad.reader.evaluation import evaluate  # noqa: E402
from ga_squad.reader.glove import read_glove  # noqa: E402
from ga_squad.search.graph import EMBEDDING_HASH, Graph, base_reader  # noqa: E402
from ga_squad.reader.model import build_model, weights_by_hash  # noqa: E402
from ga_squad.search.mutations import SwitchCell  # noqa: E402
from ga_squad.reader.training import PREDICTIONS_NAME, data_fingerprint, run_trial  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
MODEL = dataclasses.replace(ModelConfig.tiny(), word_dim=50)  # the GloVe sample is 50d
TRAIN = TrainConfig(epochs=1, batch_size=16, eval_batch_size=32, learning_rate=3e-3)
RESULT_KEYS = {
    "default", "val_f1", "val_em", "val_loss", "initial_val_f1", "initial_val_em", "initial_val_loss",
    "dev_f1", "dev_em", "dev_loss", "f1", "em", "val_questions", "dev_questions", "inherited_params",
    "fresh_params", "total_params", "epochs", "best_epoch", "train_seconds", "dev_seconds", "trial_seconds",
    "warm_start", "warm_start_seconds", "device", "mixed_precision", "indiv_id", "parent_id", "selected_by",
}


def sample(cache: Path, train_limit: int, dev_limit: int, max_passage_len: int, val_limit: int = 24) -> Dataset:
    cfg = DataConfig(str(DATA / "squad_train_sample.json"), str(DATA / "squad_dev_sample.json"),
                     str(DATA / "glove.sample.50d.txt"), max_passage_len=max_passage_len,
                     train_limit=train_limit, dev_limit=dev_limit, val_limit=val_limit)
    return load_dataset(cfg, cache)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    return sample(tmp_path_factory.mktemp("cache"), train_limit=48, dev_limit=24, max_passage_len=100)


@pytest.fixture(scope="module")
def parent(data: Dataset, tmp_path_factory: pytest.TempPathFactory) -> tuple[TrialParams, dict, list]:
    save_dir = tmp_path_factory.mktemp("search") / "000000"
    params = TrialParams(0, None, base_reader(), None, str(save_dir), None, seed=3)
    epochs: list = []
    result = run_trial(params, data, MODEL, TRAIN.override(epochs=2),
                       on_epoch=lambda e, m: epochs.append((e, dict(m))))
    return params, result, epochs


def child_params(parent: TrialParams, graph: Graph, save_dir: Path, indiv_id: int = 1, seed: int = 4,
                 restore_dir: str | None = None) -> TrialParams:
    return TrialParams(indiv_id, parent.indiv_id, graph, restore_dir or parent.save_dir, str(save_dir),
                       parent.graph.shared_ids(graph), mutation="test", seed=seed)


def test_result_dict_checkpoint_and_predictions(parent, data: Dataset) -> None:
    params, result, epochs = parent
    assert set(result) == RESULT_KEYS
    assert result["default"] == result["val_f1"] and 0.0 <= result["val_em"] <= result["val_f1"] <= 100.0
    assert (result["f1"], result["em"]) == (result["dev_f1"], result["dev_em"])
    assert (result["val_questions"], result["dev_questions"]) == (len(data.val), len(data.dev)) == (24, 24)
    assert result["epochs"] == 2 and result["warm_start"] is False and result["inherited_params"] == 0
    assert result["fresh_params"] == result["total_params"] > 0
    assert result["device"].endswith("CPU:0") and result["mixed_precision"] is False
    json.dumps(result)  # NNI needs it serialisable
    assert [e for e, _ in epochs] == [1, 2]
    assert all({"val_f1", "val_em", "val_loss", "train_loss"} == set(m) for _, m in epochs)
    candidates = [(m["val_f1"], -m["val_loss"]) for _, m in epochs]  # the start does not compete
    assert (result["val_f1"], -result["val_loss"]) == pytest.approx(max(candidates))
    manifest = read_manifest(params.save_dir)
    assert manifest["indiv_id"] == 0 and manifest["metrics"]["dev_f1"] == result["dev_f1"]
    assert manifest["data_fingerprint"] == data_fingerprint(data)
    assert manifest["model_fingerprint"] == MODEL.fingerprint()
    # The trained reader still holds the GloVe vectors, row for row (fixed embeddings).
    glove = read_glove(DATA / "glove.sample.50d.txt")
    _, arrays = read_checkpoint(params.save_dir, {EMBEDDING_HASH})
    (table,) = [a for p, a in arrays[EMBEDDING_HASH].items() if "word_embedding" in p]
    covered = [w for w in data.word_vocab.tokens[2:] if w in glove][:50]
    assert covered
    for word in covered:
        np.testing.assert_array_equal(table[data.word_vocab.id(word)], glove.get(word))
    predictions = json.loads((Path(params.save_dir) / PREDICTIONS_NAME).read_text(encoding="utf-8"))
    assert set(predictions) == set(data.dev.qids) and all(isinstance(t, str) for t in predictions.values())
    assert evaluate(predictions, data.dev.gold_answers())["f1"] == pytest.approx(result["dev_f1"])


def test_continued_child_starts_at_its_parents_val_loss(parent, data: Dataset, tmp_path: Path) -> None:
    params, result, _ = parent
    child = child_params(params, params.graph, tmp_path / "000001")
    out = run_trial(child, data, MODEL, TRAIN.override(epochs=0))
    assert out["warm_start"] is True
    assert out["initial_val_loss"] == pytest.approx(result["val_loss"], abs=1e-5)
    assert out["initial_val_f1"] == pytest.approx(result["val_f1"])
    assert out["dev_f1"] == pytest.approx(result["dev_f1"])
    assert out["inherited_params"] == out["total_params"] and out["fresh_params"] == 0
    assert read_manifest(child.save_dir)["parent_id"] == 0


def test_missing_parent_checkpoint_cold_starts_without_crashing(parent, data, tmp_path, caplog) -> None:
    params, _, _ = parent
    child = child_params(params, params.graph, tmp_path / "000002", restore_dir=str(tmp_path / "gone"))
    with caplog.at_level(logging.WARNING):
        out = run_trial(child, data, MODEL, TRAIN.override(epochs=0))
    assert out["warm_start"] is False and out["inherited_params"] == 0
    assert "cold start" in caplog.text
    assert read_manifest(child.save_dir)["warm_start"]["reason"]


def test_inherited_lr_scale_zero_keeps_inherited_layers_and_trains_fresh_ones(parent, data, tmp_path) -> None:
    params, _, _ = parent
    # Not a growing mutation: such a child starts exactly at its parent's score and keeps its
    # start (gates still 0) when one epoch does not beat it; a switched cell starts fresh.
    mutation = SwitchCell().apply(params.graph, random.Random(0))
    assert mutation is not None
    child = child_params(params, mutation.graph, tmp_path / "000003", seed=9)
    out = run_trial(child, data, MODEL, TRAIN.override(epochs=1, inherited_lr_scale=0.0))
    assert out["warm_start"] and 0 < out["inherited_params"] < out["total_params"]
    assert out["best_epoch"] == 1  # the trained weights were published, not the start
    _, parent_arrays = read_checkpoint(params.save_dir)
    _, child_arrays = read_checkpoint(child.save_dir)
    shared = params.graph.shared_ids(mutation.graph)
    for h in shared:
        for path, value in parent_arrays[h].items():
            np.testing.assert_array_equal(child_arrays[h][path], value, err_msg=path)
    keras.utils.set_random_seed(child.seed)  # the child's fresh initialisation, rebuilt
    init = build_model(mutation.graph, MODEL, len(data.word_vocab), len(data.char_vocab), data.embeddings)
    fresh = {h: vs for h, vs in weights_by_hash(init).items() if h not in shared}
    assert fresh
    changed = [h for h, vs in fresh.items()
               if any(not np.array_equal(child_arrays[h][v.path], v.numpy()) for v in vs)]
    assert set(changed) == set(fresh), "every fresh layer trains at the full rate"


def test_same_seed_same_result(parent, data, tmp_path) -> None:
    params, result, _ = parent
    again = dataclasses.replace(params, save_dir=str(tmp_path / "000000"))
    out = run_trial(again, data, MODEL, TRAIN.override(epochs=2))
    assert out["val_loss"] == result["val_loss"] and out["dev_f1"] == result["dev_f1"]
    a = read_checkpoint(params.save_dir)[1]
    b = read_checkpoint(again.save_dir)[1]
    assert all(np.array_equal(a[h][p], b[h][p]) for h in a for p in a[h])


@pytest.mark.slow
def test_tiny_model_beats_the_first_token_baseline(tmp_path: Path) -> None:
    """A few epochs on ~600 real questions clearly beat answering the first passage token.

    Dev F1 on 150 questions after training this small is noisy: over seeds
    1-6 here, 4 epochs gave 6.9-12.7 (a CI machine's numerics gave 6.4) and
    6 epochs 8.9-13.6, so 6 epochs and a margin of 3 F1 over the baseline's
    3.9; a reader that learns nothing stays near the baseline.
    """
    data = sample(tmp_path / "cache", train_limit=600, dev_limit=150, max_passage_len=150, val_limit=150)
    n = len(data.dev)
    zeros = np.zeros(n, dtype=np.int64)
    baseline = evaluate(data.dev.predictions(np.arange(n), zeros, zeros), data.dev.gold_answers())["f1"]
    params = TrialParams(0, None, base_reader(), None, str(tmp_path / "000000"), None, seed=1)
    out = run_trial(params, data, MODEL, TrainConfig(epochs=6, patience=6, batch_size=32, learning_rate=3e-3))
    assert out["val_loss"] < out["initial_val_loss"] - 1.0
    assert out["dev_f1"] > baseline + 3.0, (out["dev_f1"], baseline)


def test_child_publishes_what_it_trained_even_when_worse(parent, data, tmp_path) -> None:
    """Training that only hurts (a huge learning rate) is published and reported as it is.

    Republishing the start would hand the parent's validation score to the
    child unchanged (on a small validation split, its luck), so by default a
    child's fitness is always what its own training reached.
    """
    params, result, _ = parent
    child = child_params(params, params.graph, tmp_path / "000004", seed=5)
    epochs: list[dict[str, float]] = []
    out = run_trial(child, data, MODEL, TRAIN.override(epochs=2, patience=1, learning_rate=5.0),
                    on_epoch=lambda epoch, m: epochs.append(dict(m)))
    assert out["best_epoch"] >= 1 and out["epochs"] == len(epochs)
    assert out["val_loss"] > out["initial_val_loss"]  # worse than its start, and says so
    best = epochs[out["best_epoch"] - 1]
    assert (out["val_f1"], out["val_loss"]) == (best["val_f1"], best["val_loss"])
    _, mine = read_checkpoint(child.save_dir)
    _, theirs = read_checkpoint(params.save_dir)
    assert not all(np.array_equal(mine[h][p], theirs[h][p]) for h in theirs for p in theirs[h])


def test_start_competes_republishes_an_unimproved_start(parent, data, tmp_path, caplog) -> None:
    """With ``start_competes``, training that only hurts publishes the inherited weights unchanged."""
    params, result, _ = parent
    child = child_params(params, params.graph, tmp_path / "000004", seed=5)
    with caplog.at_level(logging.INFO, logger="ga_squad.reader.training"):
        out = run_trial(child, data, MODEL, TRAIN.override(epochs=2, patience=1, learning_rate=5.0,
                                                           start_competes=True))
    assert out["best_epoch"] == 0 and out["epochs"] == 1  # patience 1: one worse epoch, then stop
    assert (out["val_f1"], out["val_loss"]) == (out["initial_val_f1"], out["initial_val_loss"])
    assert out["dev_f1"] == pytest.approx(result["dev_f1"])
    _, mine = read_checkpoint(child.save_dir)
    _, theirs = read_checkpoint(params.save_dir)
    assert all(np.array_equal(mine[h][p], theirs[h][p]) for h in theirs for p in theirs[h])
    assert "no epoch beat its starting point" in caplog.text


def test_no_validation_split_is_a_clear_error(parent, data, tmp_path) -> None:
    params, _, _ = parent
    empty = dataclasses.replace(data, val=None)  # Dataset fills in an empty split
    with pytest.raises(ValueError, match="no validation split"):
        run_trial(dataclasses.replace(params, save_dir=str(tmp_path / "x")), empty, MODEL, TRAIN)


def test_mixed_precision_trains_a_step_without_nan(data, tmp_path) -> None:
    """float16 compute with float32 logits and loss; variables stay float32."""
    from ga_squad.reader.arrays import iterate_batches
    from ga_squad.reader.model import INPUT_KEYS
    from ga_squad.reader.precision import dtype_policy
    from ga_squad.reader.training import make_steps

    keras.utils.set_random_seed(0)
    with dtype_policy(True):
        model = build_model(base_reader(), MODEL, len(data.word_vocab), len(data.char_vocab), data.embeddings)
    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored
    assert all(v.dtype == "float32" for v in model.weights)
    steps = make_steps(model, TRAIN.override(mixed_precision=True))
    batch = next(iterate_batches(data.train, 8))
    inputs = {k: batch[k] for k in INPUT_KEYS}
    out = model(inputs)
    assert out["begin"].dtype == "float32"
    before = [np.array(v.numpy()) for v in model.trainable_variables]
    losses = [float(steps.train(inputs, batch["begin"], batch["end"])) for _ in range(2)]
    assert all(np.isfinite(losses)) and losses[1] < losses[0]
    after = [v.numpy() for v in model.trainable_variables]
    assert all(np.isfinite(a).all() for a in after)
    assert any(not np.array_equal(a, b) for a, b in zip(after, before))


def test_trial_with_embedding_store_publishes_a_small_checkpoint(parent, data, tmp_path) -> None:
    params, result, _ = parent
    store = tmp_path / "embeddings"
    again = dataclasses.replace(params, save_dir=str(tmp_path / "000000"))
    run_trial(again, data, MODEL, TRAIN.override(epochs=0), embedding_store=store)
    manifest = read_manifest(again.save_dir)
    assert [e["hash_id"] for e in manifest["external"]] == [EMBEDDING_HASH]
    assert manifest["weights"]["bytes"] < read_manifest(params.save_dir)["weights"]["bytes"] / 2
    table = read_checkpoint(again.save_dir, {EMBEDDING_HASH})[1][EMBEDDING_HASH]
    np.testing.assert_array_equal(table[manifest["external"][0]["path"]], data.embeddings)

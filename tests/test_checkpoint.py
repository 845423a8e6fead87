"""Per-hash checkpoints: exact inheritance, atomic publish, cold start on damage.

Tiny untrained models with distinct seeds stand in for trained parents: what
matters is which variables end up bit-identical to which.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import random
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import ga_squad.reader.checkpoint as ckpt  # noqa: E402
import ga_squad.reader.warm_start as warm_start  # noqa: E402
from ga_squad.store import checkpoint_store  # noqa: E402
from ga_squad.files import file_digest
from ga_squad.reader.checkpoint import (  # noqa: E402
    CheckpointCorrupt,
    CheckpointError,
    checkpoint_dir,
    publish_checkpoint,
    read_checkpoint,
    read_manifest,
)
from ga_squad.reader.warm_start import load_shared  # noqa: E402
from ga_squad.reader.config import ModelConfig  # noqa: E402
from ga_squad.search.graph import EMBEDDING_HASH, Graph, LayerType, base_reader  # noqa: E402
from ga_squad.reader.model import build_model, weights_by_hash  # noqa: E402
from ga_squad.search.mutations import InsertLayer  # noqa: E402
from ga_squad.store.ownership import Owner, this_host  # noqa: E402

VOCAB, CHARS = 40, 15
CFG = ModelConfig.tiny()
DATA_FP = "vocab-fingerprint"


def make(graph: Graph, seed: int, cfg: ModelConfig = CFG) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_model(graph, cfg, VOCAB, CHARS)


def publish(model: keras.Model, save_dir: Path, graph: Graph, indiv_id: int = 7, **metrics: float) -> Path:
    return publish_checkpoint(
        model, save_dir, indiv_id=indiv_id, parent_id=None, graph=graph, model_config=CFG.to_dict(),
        model_fingerprint=CFG.fingerprint(), data_fingerprint=DATA_FP, metrics={"f1": 1.0, **metrics})


def published_names(save_dir: Path) -> list[str]:
    """Visible entries: the pointer only (the one version it names is hidden)."""
    names = sorted(p.name for p in save_dir.iterdir())
    assert len([n for n in names if n.startswith(".checkpoint.v")]) == 1, names
    return [n for n in names if not n.startswith(".checkpoint.v")]


def values(model: keras.Model) -> dict[str, dict[str, np.ndarray]]:
    return {h: {v.path: np.array(v.numpy()) for v in vs} for h, vs in weights_by_hash(model).items()}


def same(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


@pytest.fixture(autouse=True)
def _no_retry_delay(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(warm_start, "_RETRY_DELAY_S", 0.0)


@pytest.fixture(scope="module")
def other(parent: tuple[Graph, keras.Model, Path]) -> keras.Model:
    """A second model of the parent's graph, different weights (read-only use)."""
    return make(parent[0], seed=4)


@pytest.fixture(scope="module")
def bystander(parent: tuple[Graph, keras.Model, Path]) -> keras.Model:
    """A child that every failing load must leave untouched (shared: never modified)."""
    return make(parent[0], seed=3)


@pytest.fixture(scope="module")
def parent(tmp_path_factory: pytest.TempPathFactory) -> tuple[Graph, keras.Model, Path]:
    graph = base_reader()
    model = make(graph, seed=11)
    save_dir = tmp_path_factory.mktemp("parent") / "000007"
    publish(model, save_dir, graph)
    return graph, model, save_dir


@pytest.fixture(scope="module")
def child_graph(parent: tuple[Graph, keras.Model, Path]) -> Graph:
    """The parent with a self-attention layer inserted: some layers shared, some not."""
    graph = parent[0]
    for seed in range(50):
        mutation = InsertLayer(LayerType.SELF_ATTENTION).apply(graph, random.Random(seed))
        if mutation is not None and 2 < len(graph.shared_ids(mutation.graph)) < len(mutation.graph.weight_ids()):
            return mutation.graph
    raise AssertionError("no suitable mutation found")


def test_identity_child_inherits_every_parameter_including_embeddings_and_outputs(parent) -> None:
    """The old example's precedence slip restored embeddings only without a parent: not here."""
    graph, model, save_dir = parent
    child = make(graph, seed=99)
    report = load_shared(child, save_dir, graph.shared_ids(graph), data_fingerprint=DATA_FP,
                         model_fingerprint=CFG.fingerprint())
    assert report.warm_start
    assert report.fresh_params == 0
    assert report.inherited_params == sum(int(np.prod(v.shape)) for v in model.weights)
    assert set(report.loaded_ids) == set(graph.weight_ids()) and not report.missing_ids
    mine, theirs = values(child), values(model)
    for h in graph.weight_ids():
        assert same(mine[h], theirs[h]), h
    for must in (EMBEDDING_HASH, graph.hash_id("begin"), graph.hash_id("end"), graph.hash_id("question")):
        assert must in report.loaded_ids


def test_mutated_child_gets_shared_layers_bit_identical_and_fresh_ones_untouched(parent, child_graph) -> None:
    graph, model, save_dir = parent
    shared = graph.shared_ids(child_graph)
    child = make(child_graph, seed=5)
    cold = values(make(child_graph, seed=5))  # what the child is without the parent
    report = load_shared(child, save_dir, shared, data_fingerprint=DATA_FP)
    assert set(report.loaded_ids) == shared
    assert report.fresh_params > 0 and report.inherited_params > 0
    mine, theirs = values(child), values(model)
    for h in child_graph.weight_ids():
        if h in shared:
            assert same(mine[h], theirs[h]), f"shared layer {h} not inherited exactly"
            assert not same(mine[h], cold[h])
        else:
            assert same(mine[h], cold[h]), f"fresh layer {h} was touched"
            assert h not in theirs


def test_manifest_records_identity_counts_fingerprints_and_checksum(parent) -> None:
    graph, model, save_dir = parent
    manifest = read_manifest(save_dir)
    assert manifest["indiv_id"] == 7 and manifest["parent_id"] is None
    assert Graph.from_dict(manifest["graph"]) == graph
    assert set(manifest["hash_ids"]) == set(graph.weight_ids())
    assert sum(manifest["param_counts"].values()) == manifest["total_params"] == model.count_params()
    assert manifest["model_fingerprint"] == CFG.fingerprint() and manifest["data_fingerprint"] == DATA_FP
    assert manifest["metrics"] == {"f1": 1.0}
    assert manifest["format_version"] == ckpt.FORMAT_VERSION
    assert len(manifest["weights"]["sha256"]) == 64
    assert published_names(save_dir) == ["checkpoint"]  # no temp dirs left, one version


def test_crash_mid_write_leaves_no_visible_checkpoint(tmp_path, monkeypatch, parent, bystander) -> None:
    graph, model, _ = parent

    def crash(path, obj):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(ckpt, "_write_json", crash)
    with pytest.raises(OSError, match="simulated"):
        publish(model, tmp_path / "000001", graph)
    assert not checkpoint_dir(tmp_path / "000001").exists()
    assert list((tmp_path / "000001").iterdir()) == []
    report = load_shared(bystander, tmp_path / "000001", graph.weight_ids())
    assert not report.warm_start


def test_crash_during_republish_keeps_the_previous_checkpoint(tmp_path, monkeypatch, parent, other) -> None:
    graph, model, _ = parent
    publish(model, tmp_path / "a", graph, marker=1.0)
    monkeypatch.setattr(ckpt, "_write_json", lambda path, obj: (_ for _ in ()).throw(OSError("crash")))
    with pytest.raises(OSError):
        publish(other, tmp_path / "a", graph, marker=2.0)
    manifest, arrays = read_checkpoint(tmp_path / "a")
    assert manifest["metrics"]["marker"] == 1.0
    assert same(arrays[EMBEDDING_HASH], values(model)[EMBEDDING_HASH])


def test_second_publish_replaces_cleanly(tmp_path, parent, other) -> None:
    graph, model, _ = parent
    publish(model, tmp_path / "a", graph, marker=1.0)
    publish(other, tmp_path / "a", graph, marker=2.0)
    manifest, arrays = read_checkpoint(tmp_path / "a")
    assert manifest["metrics"]["marker"] == 2.0
    assert all(same(arrays[h], values(other)[h]) for h in arrays)
    assert published_names(tmp_path / "a") == ["checkpoint"]  # the superseded version is gone


def test_publish_removes_leftovers_of_dead_owners_only(tmp_path, parent) -> None:
    graph, model, _ = parent
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    killed = tmp_path / "a" / f".checkpoint.tmp-{Owner(this_host(), int(dead.stdout), 0, 'ab').token()}"
    # a slow publish of a live process, hours old: ownership, not age, decides
    running = tmp_path / "a" / f".checkpoint.tmp-{Owner(this_host(), os.getppid(), 0, 'cd').token()}"
    for folder in (killed, running):
        folder.mkdir(parents=True)
        (folder / "weights.h5").write_bytes(b"half")
        os.utime(folder, (time.time() - 36000, time.time() - 36000))
    publish(model, tmp_path / "a", graph)
    assert not killed.exists() and running.exists()
    assert read_checkpoint(tmp_path / "a")[0]["indiv_id"] == 7


class _RaceHarness:
    """Forces reads to straddle re-publishes, and counts the reads that did.

    ``publish_checkpoint`` writes a new hidden version directory, then swaps
    the ``checkpoint`` symlink to it with one ``os.replace`` and removes the
    superseded version. The harness wraps that ``os.replace`` (in
    :mod:`ga_squad.store.checkpoint_store`) and the reader's per-file read: a
    reader that has read a manifest announces it and waits (up to ``hold_s``)
    until the writer has swapped the pointer; the writer, before swapping,
    waits (up to ``hold_s``) for a reader to be in that window. So reads
    overlap publishes by construction, not by luck, and :attr:`overlapping`
    counts them from the swap counter.
    """

    def __init__(self, final: Path, hold_s: float = 0.5) -> None:
        self.final = final
        self.hold_s = hold_s
        self.cond = threading.Condition()
        self.renames = 0
        self.reader_mid_read = False
        self.overlapping = 0

    def replace(self, src: os.PathLike[str] | str, dst: os.PathLike[str] | str) -> None:
        swap = Path(dst) == self.final  # the published pointer is about to move to a new version
        if swap:
            with self.cond:
                self.cond.wait_for(lambda: self.reader_mid_read, timeout=self.hold_s)
        os.replace(src, dst)
        if swap:
            with self.cond:
                self.renames += 1
                self.cond.notify_all()

    def after_manifest(self) -> None:
        with self.cond:
            start = self.renames
            self.reader_mid_read = True
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.renames >= start + 1, timeout=self.hold_s)
            self.reader_mid_read = False

    def read(self, reader: Callable[[], object]) -> object:
        """Run one read; count it as overlapping if a rename happened during it."""
        before = self.renames
        try:
            return reader()
        finally:
            if self.renames != before:
                self.overlapping += 1


def _race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parent, other, reader) -> tuple[_RaceHarness, dict]:
    """Re-publish two models alternately while ``reader(harness)`` reads in a loop."""
    graph, model, _ = parent
    publish(model, tmp_path / "a", graph, marker=1.0)
    harness = _RaceHarness(checkpoint_dir(tmp_path / "a"))
    os_proxy = SimpleNamespace(**{name: getattr(os, name) for name in dir(os) if not name.startswith("__")})
    os_proxy.replace = harness.replace
    monkeypatch.setattr(checkpoint_store, "os", os_proxy)  # only the publish sees the slow swap
    real_read_at = ckpt._read_at

    def read_at(dir_fd: int, name: str) -> bytes:
        data = real_read_at(dir_fd, name)
        if name == ckpt.MANIFEST_NAME:
            harness.after_manifest()
        return data

    monkeypatch.setattr(ckpt, "_read_at", read_at)
    stop = threading.Event()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            for i in range(8):
                publish(other if i % 2 == 0 else model, tmp_path / "a", graph, marker=2.0 if i % 2 == 0 else 1.0)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            stop.set()

    thread = threading.Thread(target=writer)
    thread.start()
    outcomes = {"complete": 0, "detected": 0, "torn": 0}
    try:
        while not stop.is_set():
            outcome = harness.read(lambda: reader(tmp_path / "a", harness))
            outcomes[outcome] += 1
    finally:
        thread.join()
    assert not errors
    return harness, outcomes


def test_concurrent_reader_never_sees_a_partial_checkpoint(tmp_path, monkeypatch, parent, other) -> None:
    expected = {1.0: values(parent[1]), 2.0: values(other)}

    def reader(save_dir: Path, harness: _RaceHarness) -> str:
        try:
            manifest, arrays = read_checkpoint(save_dir)
        except CheckpointCorrupt:
            return "detected"  # a superseded version removed mid-read: detected, never mixed
        want = expected[manifest["metrics"]["marker"]]
        consistent = set(arrays) == set(want) and all(same(arrays[h], want[h]) for h in arrays)
        return "complete" if consistent else "torn"

    harness, outcomes = _race(tmp_path, monkeypatch, parent, other, reader)
    assert harness.overlapping > 0, "no read overlapped a publish: the race never happened"
    assert outcomes["torn"] == 0, f"manifest and weights from different publishes: {outcomes}"
    assert outcomes["complete"] > 0


def test_the_race_harness_catches_a_reader_that_can_tear(tmp_path, monkeypatch, parent, other) -> None:
    """Control: the same race against a naive by-path reader does produce torn reads."""

    def naive_reader(save_dir: Path, harness: _RaceHarness) -> str:
        where = checkpoint_dir(save_dir)
        try:
            manifest = json.loads((where / ckpt.MANIFEST_NAME).read_text(encoding="utf-8"))
            harness.after_manifest()
            blob = (where / ckpt.WEIGHTS_NAME).read_bytes()
        except OSError:
            return "detected"
        return "complete" if hashlib.sha256(blob).hexdigest() == manifest["weights"]["sha256"] else "torn"

    harness, outcomes = _race(tmp_path, monkeypatch, parent, other, naive_reader)
    assert harness.overlapping > 0
    assert outcomes["torn"] > 0, outcomes


def test_missing_restore_dir_means_cold_start_with_warning(tmp_path, caplog, parent, bystander) -> None:
    graph = parent[0]
    child = bystander
    before = values(child)
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.warm_start"):
        report = load_shared(child, tmp_path / "nowhere", graph.weight_ids())
    assert not report.warm_start and report.inherited_params == 0 and report.loaded_ids == ()
    assert report.fresh_params == child.count_params()
    assert "cold start" in caplog.text
    assert all(same(before[h], values(child)[h]) for h in before)


@pytest.mark.parametrize("damage", ["truncate_h5", "delete_manifest", "garble_manifest", "delete_h5"])
def test_damaged_checkpoint_means_cold_start(tmp_path, caplog, parent, bystander, damage) -> None:
    graph, model, _ = parent
    publish(model, tmp_path / "p", graph)
    target = checkpoint_dir(tmp_path / "p")
    if damage == "truncate_h5":
        data = (target / "weights.h5").read_bytes()
        (target / "weights.h5").write_bytes(data[: len(data) // 2])
    elif damage == "delete_manifest":
        (target / "manifest.json").unlink()
    elif damage == "garble_manifest":
        (target / "manifest.json").write_text("{not json", encoding="utf-8")
    else:
        (target / "weights.h5").unlink()
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.warm_start"):
        report = load_shared(bystander, tmp_path / "p", graph.weight_ids())
    assert not report.warm_start
    assert "cold start" in caplog.text


@pytest.mark.parametrize("field,value", [("graph", {"layers": "oops"}), ("model_config", "oops")])
def test_unreadable_parent_graph_or_config_in_the_manifest_means_cold_start(
        tmp_path, caplog, parent, bystander, field, value) -> None:
    """The manifest still parses, but its graph (read to map changed layers) does not: a cold start, not a crash."""
    graph, model, _ = parent
    publish(model, tmp_path / "p", graph)
    target = checkpoint_dir(tmp_path / "p")
    manifest = json.loads((target / "manifest.json").read_text())
    if field == "graph":
        manifest["graph"]["layers"] = "oops"
    else:
        manifest[field] = value
    (target / "manifest.json").write_text(json.dumps(manifest))
    before = values(bystander)
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.warm_start"):
        report = load_shared(bystander, tmp_path / "p", graph.weight_ids(), graph=graph)
    assert not report.warm_start and report.inherited_params == 0
    assert "cold start" in caplog.text and field in report.reason
    assert all(same(before[h], values(bystander)[h]) for h in before)


def test_truncated_h5_with_a_matching_manifest_is_still_detected(tmp_path, parent) -> None:
    """Even if the size recorded were right, a broken HDF5 file is refused, not half-read."""
    graph, model, _ = parent
    publish(model, tmp_path / "p", graph)
    target = checkpoint_dir(tmp_path / "p")
    data = (target / "weights.h5").read_bytes()
    (target / "weights.h5").write_bytes(data[: len(data) // 3])
    manifest = json.loads((target / "manifest.json").read_text())
    manifest["weights"]["bytes"] = len(data) // 3
    manifest["weights"]["sha256"] = file_digest(target / "weights.h5")
    (target / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CheckpointCorrupt):
        read_checkpoint(tmp_path / "p")


def test_shape_mismatch_is_a_clear_error_naming_the_layer(tmp_path, parent, bystander) -> None:
    graph, _, _ = parent
    wide = dataclasses.replace(CFG, hidden=24)
    publish(make(graph, seed=1, cfg=wide), tmp_path / "wide", graph)
    child = bystander
    before = values(child)
    with pytest.raises(CheckpointError, match=r"layer [0-9a-f]{16}: variable \S+ has shape \(.*\) in the checkpoint but \(.*\) in the model"):
        load_shared(child, tmp_path / "wide", graph.weight_ids())
    assert all(same(before[h], values(child)[h]) for h in before), "nothing may be half-loaded"


def test_fingerprint_mismatch_is_a_clear_error(parent, bystander) -> None:
    graph, _, save_dir = parent
    before = values(bystander)
    with pytest.raises(CheckpointError, match="data/vocabulary fingerprint"):
        load_shared(bystander, save_dir, graph.weight_ids(), data_fingerprint="other-vocab")
    with pytest.raises(CheckpointError, match="model config fingerprint"):
        load_shared(bystander, save_dir, graph.weight_ids(), model_fingerprint="other")
    assert all(same(before[h], values(bystander)[h]) for h in before)


# --- frozen embeddings stored once ------------------------------------------------
GLOVE_DIM = CFG.word_dim


def frozen(graph: Graph, seed: int) -> keras.Model:
    """A model with a fixed pre-trained word table (the same table for every seed)."""
    table = np.random.default_rng(0).normal(size=(VOCAB, GLOVE_DIM)).astype("float32")
    keras.utils.set_random_seed(seed)
    return build_model(graph, CFG, VOCAB, CHARS, embeddings=table, fix_embeddings=True)


def publish_to(model: keras.Model, save_dir: Path, graph: Graph, store: Path | None) -> Path:
    return publish_checkpoint(
        model, save_dir, indiv_id=1, parent_id=None, graph=graph, model_config=CFG.to_dict(),
        model_fingerprint=CFG.fingerprint(), data_fingerprint=DATA_FP, metrics={}, embedding_store=store)


def test_frozen_table_is_stored_once_and_referenced_from_each_manifest(tmp_path) -> None:
    graph, store = base_reader(), tmp_path / "embeddings"
    first, second = frozen(graph, 1), frozen(graph, 2)
    publish_to(first, tmp_path / "a", graph, store)
    publish_to(second, tmp_path / "b", graph, store)
    publish_to(first, tmp_path / "inline", graph, None)
    (stored,) = store.iterdir()  # one file for both individuals
    table_path = next(v.path for v in weights_by_hash(first)[EMBEDDING_HASH] if not v.trainable)
    for name in ("a", "b"):
        (entry,) = read_manifest(tmp_path / name)["external"]
        assert entry["path"] == table_path and entry["sha256"] == stored.stem
        assert (checkpoint_dir(tmp_path / name) / entry["file"]).resolve() == stored.resolve()
    import h5py
    with h5py.File(checkpoint_dir(tmp_path / "a") / "weights.h5") as f:
        assert table_path not in f[EMBEDDING_HASH] and len(f[EMBEDDING_HASH]) > 0  # char layers stay
    small = read_manifest(tmp_path / "a")["weights"]["bytes"]
    assert small + VOCAB * GLOVE_DIM * 4 <= read_manifest(tmp_path / "inline")["weights"]["bytes"]
    child = make(graph, 9)  # a random, trainable table: inherits the stored one
    report = load_shared(child, tmp_path / "b", graph.weight_ids(), data_fingerprint=DATA_FP)
    assert report.warm_start and report.fresh_params == 0
    assert same(values(child)[EMBEDDING_HASH], values(second)[EMBEDDING_HASH])


def test_damaged_or_missing_stored_table_means_cold_start(tmp_path, caplog) -> None:
    graph, store = base_reader(), tmp_path / "embeddings"
    publish_to(frozen(graph, 1), tmp_path / "a", graph, store)
    (stored,) = store.iterdir()
    stored.write_bytes(stored.read_bytes()[:-8] + bytes(8))
    with pytest.raises(CheckpointCorrupt, match="digest"):
        read_checkpoint(tmp_path / "a")
    read_checkpoint(tmp_path / "a", ids=set(graph.weight_ids()) - {EMBEDDING_HASH})  # not asked: not read
    publish_to(frozen(graph, 2), tmp_path / "b", graph, store)  # the next publish repairs it
    assert read_checkpoint(tmp_path / "a")[1][EMBEDDING_HASH]
    stored.unlink()
    with caplog.at_level(logging.WARNING):
        report = load_shared(make(graph, 3), tmp_path / "a", graph.weight_ids())
    assert not report.warm_start and "cold start" in caplog.text


def test_a_checkpoint_of_another_format_is_refused_naming_its_manifest(tmp_path, caplog) -> None:
    graph = base_reader()
    publish_to(frozen(graph, 1), tmp_path / "old", graph, None)
    where = checkpoint_store.resolve(tmp_path / "old")
    manifest = json.loads((where / "manifest.json").read_text(encoding="utf-8"))
    manifest["format_version"] = 1
    (where / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(CheckpointCorrupt, match=r"manifest\.json: not a version-2 checkpoint manifest$") as err:
        read_checkpoint(tmp_path / "old")
    assert str(where) in str(err.value) and "\n" not in str(err.value)
    with caplog.at_level(logging.WARNING):  # a child of it cold-starts, as of any unusable parent
        report = load_shared(frozen(graph, 5), tmp_path / "old", graph.weight_ids(), data_fingerprint=DATA_FP)
    assert not report.warm_start and "not a version-2 checkpoint manifest" in caplog.text


def test_input_projection_rows_follow_the_features(tmp_path) -> None:
    """Adding a feature: its rows start at zero, the others are the parent's; removing one drops its rows."""
    from ga_squad.search.mutations import ToggleFeature

    base = base_reader()
    graph = ToggleFeature("exact_match").apply(base, random.Random(0)).graph
    passage = "passage" if "exact_match" in graph["passage"].features else "question"
    model = make(graph, seed=2)
    publish(model, tmp_path / "p", graph)
    kernel = lambda m, g: next(v for v in weights_by_hash(m)[g.uid(passage)]  # noqa: E731
                               if v.path.endswith("proj/kernel")).numpy()
    grown = graph.replace_layers(l.replace(features=(*l.features, "term_freq")) if l.id == passage else l
                                 for l in graph.layers)
    child = make(grown, seed=3)
    report = load_shared(child, tmp_path / "p", grown.shared_ids(graph), graph=grown)
    old, new = kernel(model, graph), kernel(child, grown)
    assert new.shape[0] == old.shape[0] + 1
    np.testing.assert_array_equal(new[:-1], old)  # embedding rows, then exact_match; term_freq is the last column
    assert not new[-1].any()
    assert report.inherited_params == model.count_params()
    shrunk = graph.replace_layers(l.replace(features=()) if l.id == passage else l for l in graph.layers)
    child = make(shrunk, seed=4)
    load_shared(child, tmp_path / "p", shrunk.shared_ids(graph), graph=shrunk)
    np.testing.assert_array_equal(kernel(child, shrunk), old[:-1])

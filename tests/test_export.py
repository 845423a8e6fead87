"""``python -m ga_squad export``: a standalone reader that gives its checkpoint's outputs, on a tiny real search.

The export is loaded by ``predict``'s loader from another working directory,
after the search folder has been moved away, and must give the checkpoint's
logits on a batch of real dev questions and the same predictions file.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tiny_search import TinySearch, tiny_search

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    return tiny_search(tmp_path_factory)


def _best(tiny: TinySearch) -> tuple[int, Path, dict]:
    """The individual with the best journal value (read here from the journal, not by the exporter)."""
    reported = [json.loads(line) for line in (tiny.search_dir / "lineage.jsonl").read_text(encoding="utf-8").splitlines()]
    best = max((e for e in reported if e["event"] == "reported"), key=lambda e: (e["value"], -e["indiv_id"]))
    save_dir = tiny.search_dir / "individuals" / f"{best['indiv_id']:06d}"
    manifest = json.loads((save_dir / "checkpoint" / "manifest.json").read_text(encoding="utf-8"))
    return best["indiv_id"], save_dir, manifest


def _export(argv: list[str]) -> int:
    from ga_squad.cli.export import cli

    return cli(argv)


def _predict(argv: list[str]) -> int:
    from ga_squad.cli.predict import cli

    return cli(argv)


@pytest.fixture(scope="module")
def exported(tiny: TinySearch, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny search's best reader, exported through the command line."""
    out = tmp_path_factory.mktemp("export") / "best"
    assert _export([str(tiny.save_dir_root), "--out", str(out)]) == 0
    return out


def test_export_says_what_it_wrote(tiny: TinySearch, exported: Path, tmp_path: Path,
                                   capsys: pytest.CaptureFixture) -> None:
    indiv_id, save_dir, _ = _best(tiny)
    capsys.readouterr()
    out = tmp_path / "again"
    assert _export([str(save_dir), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert f"exported individual {indiv_id} to {out}" in printed and f"predict {out}" in printed
    assert (out / "vocab.json").read_bytes() == (exported / "vocab.json").read_bytes()


def _dev_batch(reader, dev_path: str, n: int = 16) -> dict[str, np.ndarray]:
    """The first batch of ``n`` real dev questions, encoded with the reader's own vocabularies."""
    from ga_squad.reader.arrays import iterate_batches
    from ga_squad.reader.dataset import encode_examples
    from ga_squad.reader.squad import read_squad

    examples = read_squad(dev_path, limit=n).examples
    arrays = encode_examples(examples, reader.assets.word_vocab, reader.assets.char_vocab,
                             reader.assets.data_config())
    return next(iterate_batches(arrays, n, shuffle=False))


def test_export_writes_the_files_and_metadata(tiny: TinySearch, exported: Path) -> None:
    from ga_squad.search.graph import Graph

    indiv_id, _, manifest = _best(tiny)
    assert {p.name for p in exported.iterdir()} == {"reader.keras", "vocab.json", "reader.json", "README.md"}
    meta = json.loads((exported / "reader.json").read_text(encoding="utf-8"))
    assert meta["indiv_id"] == indiv_id
    assert meta["graph_fingerprint"] == Graph.from_dict(manifest["graph"]).fingerprint()
    assert meta["metrics"]["f1"] == manifest["metrics"]["f1"]
    assert meta["reader_assets"]["tokenizer"]["max_passage_len"] == manifest["data_config"]["max_passage_len"]
    assert {"ga_squad", "keras", "tensorflow"} <= set(meta["versions"]) and meta["created"]
    assert meta["verified_max_abs_diff"] <= 1e-5
    assert "python -m ga_squad predict" in (exported / "README.md").read_text(encoding="utf-8")


def test_export_gives_the_checkpoints_logits_from_anywhere(
        tiny: TinySearch, exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ga_squad.reader.bundle import SourceKind
    from ga_squad.reader.loader import load_reader
    from ga_squad.reader.export import ExportedReader, _spec

    _, save_dir, manifest = _best(tiny)
    checkpoint = load_reader(save_dir)
    moved = tmp_path / "elsewhere"
    shutil.copytree(exported, moved)  # a copy in a new place, read from a third working directory
    monkeypatch.chdir(tmp_path)
    hidden = tiny.search_dir.with_name(tiny.search_dir.name + ".hidden")
    tiny.search_dir.rename(hidden)  # the export must not need the search folder
    try:
        reader = load_reader("elsewhere/reader.keras")
    finally:
        hidden.rename(tiny.search_dir)
    assert reader.source.kind is SourceKind.EXPORT
    assert (reader.max_answer_len, reader.batch_size) == (checkpoint.max_answer_len, checkpoint.batch_size)
    assert reader.assets.word_vocab.tokens == checkpoint.assets.word_vocab.tokens
    batch = _dev_batch(checkpoint, manifest["data_config"]["dev_path"])
    want, got = checkpoint.logits(batch), reader.logits(batch)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    # The comparison can fail: the same architecture without the exported weights gives other logits.
    fresh = ExportedReader(_spec(manifest, checkpoint.assets))
    begin = fresh({k: batch[k] for k in reader.input_keys}, training=False)["begin"]
    assert not np.allclose(np.asarray(begin), want[0], rtol=1e-3, atol=1e-3)


def test_predictions_from_the_export_equal_the_checkpoints(
        tiny: TinySearch, exported: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _, save_dir, manifest = _best(tiny)
    dev = manifest["data_config"]["dev_path"]
    monkeypatch.chdir(tmp_path)
    assert _predict([str(save_dir), "--input", dev, "--output", "checkpoint.json", "--no-progress"]) == 0
    assert _predict([str(exported), "--input", dev, "--output", "export.json", "--no-progress"]) == 0
    from_checkpoint = json.loads((tmp_path / "checkpoint.json").read_text(encoding="utf-8"))
    assert json.loads((tmp_path / "export.json").read_text(encoding="utf-8")) == from_checkpoint
    assert len(from_checkpoint) > 0


# --- one-line errors --------------------------------------------------------------
def _one_error(capsys: pytest.CaptureFixture) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


@pytest.mark.parametrize("damage, expected", [
    (lambda d: (d / "reader.keras").unlink(), "has no reader.keras; copy the whole folder"),
    (lambda d: (d / "vocab.json").unlink(), "has no vocab.json; copy the whole folder"),
    (lambda d: (d / "reader.json").unlink(), "has no reader.json; the export is incomplete"),
    (lambda d: (d / "reader.keras").write_bytes(b"not a zip"), "does not match the checksum in reader.json"),
    (lambda d: (d / "vocab.json").write_text("{}", encoding="utf-8"), "does not match the checksum"),
    (lambda d: (d / "reader.json").write_text("{", encoding="utf-8"), "reader.json is unreadable or not JSON"),
])
def test_a_damaged_export_is_one_line(exported: Path, tmp_path: Path, capsys: pytest.CaptureFixture,
                                      damage, expected: str) -> None:
    copy = tmp_path / "copy"
    shutil.copytree(exported, copy)
    damage(copy)
    assert _predict([str(copy), "--question", "Who?", "--passage", "Someone."]) == 1
    assert expected in _one_error(capsys)


def test_export_mistakes_are_one_line(tiny: TinySearch, exported: Path, tmp_path: Path,
                                      capsys: pytest.CaptureFixture) -> None:
    assert _export([str(tmp_path / "nowhere"), "--out", str(tmp_path / "x")]) == 1
    assert _one_error(capsys) == f"error: {tmp_path / 'nowhere'} does not exist; pass a search folder, a " \
                                 f"storage root or an individual folder"
    assert _export([str(tmp_path), "--out", str(tmp_path / "x")]) == 1
    assert f"error: {tmp_path} holds no reader" in _one_error(capsys)
    assert _export([str(tiny.save_dir_root), "--out", str(exported)]) == 1
    assert "already holds an exported reader; pass --force" in _one_error(capsys)
    assert _export([str(exported), "--out", str(tmp_path / "again")]) == 1
    assert "is already an export" in _one_error(capsys)
    assert not (tmp_path / "x").exists() and not (tmp_path / "again").exists()



# --- every graph the search space can produce loads back ----------------------------
def _wide_reader():
    """Every layer type, both cells, widths 2 and 4, a residual, a gated skip, both pointer heads."""
    from ga_squad.search.graph import Graph, Layer, LayerType, Stream

    q, p, s = Stream.QUESTION, Stream.PASSAGE, Stream.SUMMARY
    return Graph((
        Layer("question", LayerType.INPUT, q),
        Layer("passage", LayerType.INPUT, p, features=("aligned", "exact_match")),
        Layer("h0", LayerType.RNN, q, ("question",), cell="gru", width=2),
        Layer("h1", LayerType.POOL, s, ("h0",)),
        Layer("h2", LayerType.RNN, p, ("passage",), cell="lstm", width=4, residual=True),
        Layer("h3", LayerType.SELF_ATTENTION, p, ("h2",)),
        Layer("h4", LayerType.BIDAF, p, ("h3", "h0")),
        Layer("h5", LayerType.ATTENTION, p, ("h4", "h0"), skips=("h2",), gated_skips=("h2",)),
        Layer("begin", LayerType.OUTPUT, p, ("h5", "h1"), pointer="bilinear"),
        Layer("end", LayerType.OUTPUT, p, ("h5",), pointer="conditioned"),
    ))


MUTATION_SEEDS = (8, 11)  # seeded 8-step chains as a search draws them: a width-2 GRU beside an LSTM,
                          # bidaf + self-attention + attention with a conditioned end; both with gated skips


def _sweep() -> dict[str, object]:
    """The swept graphs by name: the presets, a graph with every option, seeded mutation chains of the presets."""
    import random

    from ga_squad.search.graph import base_reader
    from ga_squad.search.mutator import Mutator
    from ga_squad.search.presets import PRESETS, preset

    seeds = [base_reader(), *(preset(name) for name in PRESETS)]
    graphs: dict[str, object] = {f"preset_{name}": preset(name) for name in PRESETS}
    graphs["wide"] = _wide_reader()
    mutator = Mutator(max_layers=6)
    for seed in MUTATION_SEEDS:
        graphs[f"mutated_{seed}"] = mutator.mutate_many(seeds[seed % len(seeds)], random.Random(seed), steps=8).graph
    return graphs


SWEEP = _sweep()


def _spec_of(graph) -> dict:
    from ga_squad.reader.config import ModelConfig
    from ga_squad.search.vocabulary import FEATURE_COLUMNS

    return {"graph": graph.to_dict(), "model_config": ModelConfig.tiny().to_dict(), "word_vocab_size": 50,
            "char_vocab_size": 20, "fix_embeddings": True, "data_features": list(FEATURE_COLUMNS)}


def _probe() -> dict[str, np.ndarray]:
    """Random in-vocabulary inputs with padding, as the export's own check makes them."""
    from ga_squad.reader.assets import ReaderAssets, TokenizerSettings
    from ga_squad.reader.export import probe_batch
    from ga_squad.reader.vocab import PAD_TOKEN, UNK_TOKEN, Vocab

    def vocab(size: int, lowercase: bool) -> Vocab:
        return Vocab((PAD_TOKEN, UNK_TOKEN, *(f"t{i}" for i in range(size - 2))), (0,) * size, lowercase)

    assets = ReaderAssets(vocab(50, True), vocab(20, False), TokenizerSettings(16, 8, 6))  # short: eager RNN steps are slow
    return probe_batch(assets)


def _logits(model, batch: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    out = model(batch, training=False)
    return np.asarray(out["begin"]), np.asarray(out["end"])


def test_the_sweep_covers_the_search_space() -> None:
    """What the sweep below proves is only as wide as the graphs in it: every type, cell, width and pointer."""
    from ga_squad.search.graph import LayerType
    from ga_squad.search.vocabulary import CELLS, POINTERS, WIDTHS

    layers = [g[i] for g in SWEEP.values() for i in g.topological_order]
    rnns = [layer for layer in layers if layer.type is LayerType.RNN]
    assert {layer.type for layer in layers} == set(LayerType)
    assert {layer.cell for layer in rnns if layer.cell} == set(CELLS)
    assert {layer.width for layer in rnns} == set(WIDTHS)
    assert {layer.pointer for layer in layers if layer.type is LayerType.OUTPUT} == set(POINTERS)
    assert any(layer.residual for layer in layers) and any(layer.gated_skips for layer in layers)
    assert any("aligned" in layer.features for layer in layers)
    assert len({g.fingerprint() for g in SWEEP.values()}) == len(SWEEP)


@pytest.mark.parametrize("name", list(SWEEP))
def test_every_graph_exports_and_loads_back_with_its_logits(name: str, tmp_path: Path) -> None:
    from ga_squad.reader.export import ExportedReader, _load_model

    reader = ExportedReader(_spec_of(SWEEP[name]), name="exported_reader")
    batch = _probe()
    want = _logits(reader, batch)
    reader.save(tmp_path / "reader.keras")
    loaded = _load_model(tmp_path / "reader.keras")
    assert [v.path for v in loaded.weights] == [v.path for v in reader.weights]
    for w, g in zip(want, _logits(loaded, batch)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)


def test_loading_survives_recycled_object_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keras' load scope keys objects by ``id()``; CPython recycles ids, so any id may look already seen.

    The worst case, made deterministic: a scope in which every id was seen and
    resolves to one stale backward GRU. Rebuilding the reader must not consult it
    (it did: ``Bidirectional`` copies its RNN through that scope, and both
    directions became the stale layer).
    """
    import keras
    from keras.src.backend.common import global_state
    from keras.src.saving.serialization_lib import ObjectSharingScope

    from ga_squad.reader.export import ExportedReader, _load_model

    stale = keras.layers.GRU(3, go_backwards=True, name="stale")

    class EverySeen(dict):
        def __contains__(self, key: object) -> bool:
            return True

        def __getitem__(self, key: object) -> dict:
            return {}

        def get(self, key: object, default: object = None) -> object:
            return stale

    def poisoned_enter(self: ObjectSharingScope) -> None:
        global_state.set_global_attribute("shared_objects/id_to_obj_map", EverySeen())
        global_state.set_global_attribute("shared_objects/id_to_config_map", EverySeen())

    reader = ExportedReader(_spec_of(SWEEP["preset_bidaf"]), name="exported_reader")
    batch = _probe()
    want = _logits(reader, batch)
    reader.save(tmp_path / "reader.keras")
    monkeypatch.setattr(ObjectSharingScope, "__enter__", poisoned_enter)
    loaded = _load_model(tmp_path / "reader.keras")
    for w, g in zip(want, _logits(loaded, batch)):
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    # The comparison can fail: the same graph without the saved weights gives other logits.
    fresh = ExportedReader(_spec_of(SWEEP["preset_bidaf"]))
    assert not np.allclose(_logits(fresh, batch)[0], want[0], rtol=1e-3, atol=1e-3)

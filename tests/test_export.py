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
    from ga_squad.reader.bundle import SourceKind, load_reader
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


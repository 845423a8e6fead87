"""``python -m ga_squad predict`` and the self-contained checkpoints it loads, on a tiny real search.

The predictions file is scored with the project's official metric on the
questions the trial scored and must give exactly what the trial reported;
each user mistake gives one ``error:`` line naming the cause.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from tiny_search import TinySearch, tiny_search

REPO = Path(__file__).resolve().parents[1]
PASSAGE = ("The Normans were the people who in the 10th and 11th centuries gave their name to Normandy, "
           "a region in France.")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    return tiny_search(tmp_path_factory)


def _best(tiny: TinySearch) -> tuple[int, Path, dict]:
    """The individual with the best journal value (computed here from the journal, not by the loader)."""
    best = None
    for line in (tiny.search_dir / "lineage.jsonl").read_text(encoding="utf-8").splitlines():
        event = json.loads(line)
        if event["event"] == "reported" and (best is None or event["value"] > best["value"]):
            best = event
    assert best is not None
    save_dir = tiny.search_dir / "individuals" / f"{best['indiv_id']:06d}"
    manifest = json.loads((save_dir / "checkpoint" / "manifest.json").read_text(encoding="utf-8"))
    return best["indiv_id"], save_dir, manifest


def _cli(argv: list[str]) -> int:
    from ga_squad.cli.predict import cli

    return cli(argv)


# --- self-contained checkpoints ---------------------------------------------------
def test_checkpoints_reference_one_stored_vocabulary_and_absolute_data_paths(tiny: TinySearch) -> None:
    from ga_squad.reader.assets import ASSETS_KEY, load_assets, vocab_fingerprint
    from ga_squad.reader.checkpoint import read_manifest

    stored = sorted((tiny.search_dir / "shared").glob("vocab-*.json"))
    assert len(stored) == 1  # four trials, one vocabulary, stored once
    for save_dir in sorted((tiny.search_dir / "individuals").iterdir()):
        manifest = read_manifest(save_dir)
        ref = manifest[ASSETS_KEY]
        assert not Path(ref["vocab_file"]).is_absolute()
        assert (save_dir / "checkpoint" / ref["vocab_file"]).resolve() == stored[0].resolve()
        assets = load_assets(save_dir / "checkpoint", manifest)
        assert assets is not None and assets.tokenizer.max_passage_len == manifest["data_config"]["max_passage_len"]
        assert vocab_fingerprint(assets.word_vocab, assets.char_vocab, None) == manifest["data_fingerprint"]
        paths = [manifest["data_config"][k] for k in ("train_path", "dev_path")]
        assert all(Path(p).is_absolute() and Path(p).is_file() for p in paths)


def test_a_damaged_vocabulary_is_refused(tiny: TinySearch, tmp_path: Path) -> None:
    from ga_squad.reader.assets import ASSETS_KEY, AssetsError, load_assets
    from ga_squad.reader.checkpoint import read_manifest

    copy = tmp_path / "search"
    shutil.copytree(tiny.search_dir, copy)
    vocab = next((copy / "shared").glob("vocab-*.json"))
    vocab.write_bytes(vocab.read_bytes().replace(b'"<unk>"', b'"<UNK>"'))
    save_dir = copy / "individuals" / "000000"
    with pytest.raises(AssetsError, match="checksum"):
        load_assets(save_dir / "checkpoint", read_manifest(save_dir))
    assert ASSETS_KEY in read_manifest(save_dir)


def test_store_assets_is_content_addressed_and_repairs_a_damaged_file(tmp_path: Path) -> None:
    from ga_squad.reader.assets import store_assets
    from ga_squad.reader.vocab import build_char_vocab, build_word_vocab

    words = [["The", "cat"], ["a", "cat"]]
    w, c = build_word_vocab(words), build_char_vocab(words)
    first, sha = store_assets(tmp_path, w, c)
    again, sha_again = store_assets(tmp_path, w, c)
    other, sha_other = store_assets(tmp_path, build_word_vocab([["dog"]]), c)
    assert (first, sha) == (again, sha_again) and other != first and sha_other != sha
    assert sha[:32] in first.name
    first.write_text("garbage", encoding="utf-8")
    repaired, _ = store_assets(tmp_path, w, c)
    assert json.loads(repaired.read_text(encoding="utf-8"))["word_vocab"]["tokens"] == list(w.tokens)


def test_an_unwritable_store_costs_the_reference_not_the_trial(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace

    from ga_squad.reader.assets import ASSETS_KEY, manifest_fields
    from ga_squad.reader.dataset import DataConfig
    from ga_squad.reader.vocab import build_char_vocab, build_word_vocab

    data = SimpleNamespace(word_vocab=build_word_vocab([["a"]]), char_vocab=build_char_vocab([["a"]]),
                           config=DataConfig("train.json", "dev.json"))
    save_dir = tmp_path / "exp" / "individuals" / "000001"
    ok = manifest_fields(data, save_dir)
    assert (save_dir / "checkpoint" / ok[ASSETS_KEY]["vocab_file"]).resolve().parent == tmp_path / "exp" / "shared"
    assert ok["data_config"]["train_path"] == str(Path("train.json").resolve())
    blocked = tmp_path / "blocked" / "individuals" / "000001"
    blocked.parent.parent.mkdir()
    (blocked.parent.parent / "shared").write_text("a file where the folder should be", encoding="utf-8")
    fields = manifest_fields(data, blocked)
    assert ASSETS_KEY not in fields and "data_config" in fields
    assert "vocabularies not stored" in caplog.text


# --- predict ----------------------------------------------------------------------
def test_predictions_file_scores_what_the_trial_reported(
        tiny: TinySearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from ga_squad.reader.evaluation import evaluate

    indiv_id, save_dir, manifest = _best(tiny)
    data = manifest["data_config"]
    monkeypatch.chdir(tmp_path)  # neither the repository nor the search folder
    assert _cli([str(tiny.save_dir_root), "--input", data["dev_path"], "--no-progress"]) == 0
    out = capsys.readouterr()
    assert f"individual {indiv_id}" in out.err
    assert "questions/s" in out.out
    predictions = json.loads((tmp_path / "predictions.json").read_text(encoding="utf-8"))
    doc = json.loads(Path(data["dev_path"]).read_text(encoding="utf-8"))
    every = {qa["id"]: [a["text"] for a in qa["answers"]]  # as the official script reads the gold
             for article in doc["data"] for para in article["paragraphs"] for qa in para["qas"]}
    assert set(predictions) == set(every)
    trial = json.loads((save_dir / "predictions.json").read_text(encoding="utf-8"))  # what the trial scored
    gold = {q: every[q] for q in trial}
    scores = evaluate({q: predictions[q] for q in gold}, gold)
    assert scores["f1"] == pytest.approx(manifest["metrics"]["f1"], abs=1e-9)
    assert scores["exact_match"] == pytest.approx(manifest["metrics"]["em"], abs=1e-9)
    assert {q: predictions[q] for q in trial} == trial


def test_answers_stream_in_chunks_with_the_same_result(tiny: TinySearch) -> None:
    from ga_squad.reader.loader import load_reader
    from ga_squad.reader.inference import answer_all, read_questions

    _, save_dir, manifest = _best(tiny)
    reader = load_reader(save_dir)
    questions = read_questions(manifest["data_config"]["dev_path"])[:40]
    whole = dict(answer_all(reader, questions))
    chunked = dict(answer_all(reader, iter(questions), chunk_size=7))
    assert len(whole) == 40 and chunked.keys() == whole.keys()
    for qid, a in whole.items():  # same spans; the score only up to float noise (batches pad differently)
        b = chunked[qid]
        assert (b.text, b.start, b.end, b.token_start, b.token_end) == (a.text, a.start, a.end, a.token_start, a.token_end)
        assert math.isclose(b.score, a.score, rel_tol=1e-5), (qid, a.score, b.score)
    for q in questions:
        a = whole[q.qid]
        assert q.passage[a.start:a.end] == a.text and 0.0 < a.score <= 1.0 and a.token_start <= a.token_end


def test_single_question_prints_answer_offsets_and_score(
        tiny: TinySearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from ga_squad.reader.squad import read_squad

    _, save_dir, manifest = _best(tiny)
    example = read_squad(manifest["data_config"]["dev_path"], limit=1).examples[0]
    passage_file = tmp_path / "passage.txt"
    passage_file.write_text(example.context, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert _cli([str(save_dir), "--question", example.question, "--passage-file", "passage.txt"]) == 0
    lines = dict(line.split(": ", 1) for line in capsys.readouterr().out.splitlines())
    start, end = (int(x) for x in lines["characters"].split("-"))
    assert lines["answer"] == example.context[start:end]
    trial = json.loads((save_dir / "predictions.json").read_text(encoding="utf-8"))
    assert lines["answer"] == trial[example.qid]  # the same answer the trial gave this dev question
    assert 0.0 < float(lines["score"]) <= 1.0


def test_a_checkpoint_whose_vocabulary_was_not_stored_loads_from_its_data(
        tiny: TinySearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Its trial could not write ``shared/`` (see the test above): the manifest's data settings rebuild it."""
    from ga_squad.reader.assets import ASSETS_KEY

    copy = tmp_path / "runs" / tiny.experiment_id
    shutil.copytree(tiny.search_dir, copy)
    shutil.rmtree(copy / "shared")
    for manifest_path in copy.glob("individuals/*/checkpoint/manifest.json"):
        manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
        del manifest[ASSETS_KEY]
        manifest_path.write_text(json.dumps(manifest), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    _, save_dir, _ = _best(tiny)
    example_args = ["--question", "Who gave their name to Normandy?", "--passage", PASSAGE]
    assert _cli([str(copy)] + example_args) == 0
    old = capsys.readouterr().out
    assert _cli([str(save_dir)] + example_args) == 0
    assert capsys.readouterr().out == old


# --- one-line errors --------------------------------------------------------------
def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("content, expected", [
    ("not json at all", "is not a SQuAD v1.1 JSON file: not valid JSON at line 1"),
    ("[1, 2]", "is not a SQuAD v1.1 JSON file: top level must be a JSON object"),
    ('{"version": "1.1"}', "is not a SQuAD v1.1 JSON file: data is missing"),
    ('{"data": [{"paragraphs": [{"context": "x", "qas": [{"question": "q"}]}]}]}',
     "is not a SQuAD v1.1 JSON file: data[0].paragraphs[0].qas[0].id is missing"),
    ('{"data": []}', "holds no questions"),
    ('{"data": [{"paragraphs": [{"context": "x", "qas": [{"id": "a", "question": "q"}]}, '
     '{"context": "", "qas": [{"id": "q-empty", "question": "Who?"}]}]}]}',
     "question 'q-empty' has an empty passage (its paragraph's \"context\" is empty)"),
    ('{"data": [{"paragraphs": [{"context": "x", "qas": [{"id": "q-blank", "question": "  "}]}]}]}',
     "question 'q-blank' is empty"),
])
def test_input_that_is_not_squad_is_one_line(tiny: TinySearch, tmp_path: Path, capsys: pytest.CaptureFixture,
                                             content: str, expected: str) -> None:
    bad = _write(tmp_path / "input.json", content)
    assert _cli([str(tiny.save_dir_root), "--input", str(bad)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: {bad}") and expected in err[0], err


def test_questions_without_answers_are_answered(tiny: TinySearch, tmp_path: Path) -> None:
    from ga_squad.reader.inference import read_questions

    test_file = _write(tmp_path / "test.json", json.dumps({"data": [{"title": "t", "paragraphs": [
        {"context": PASSAGE, "qas": [{"id": "a", "question": "Who?"}, {"id": "b", "question": "Where?"}]}]}]}))
    assert [q.qid for q in read_questions(test_file)] == ["a", "b"]


@pytest.mark.parametrize("argv, expected", [
    (["{root}", "--input", "{tmp}/missing.json"], "error: input file {tmp}/missing.json does not exist"),
    (["{tmp}/nowhere", "--question", "q", "--passage", "p"], "error: {tmp}/nowhere does not exist"),
    (["{tmp}", "--question", "q", "--passage", "p"], "error: {tmp} holds no reader: expected a search folder"),
    (["{root}"], "error: nothing to answer: pass --input FILE"),
    (["{root}", "--question", "q"], "error: --question needs exactly one of --passage"),
    (["{root}", "--input", "x.json", "--question", "q"], "error: choose one mode"),
    (["{root}", "--question", "q", "--passage-file", "{tmp}/none.txt"],
     "error: passage file {tmp}/none.txt does not exist"),
    (["{root}", "--question", " ", "--passage", "p"], "error: the question is empty"),
    (["{root}", "--question", "q", "--passage", "  "], "error: the passage is empty"),
])
def test_user_mistakes_are_one_line(tiny: TinySearch, tmp_path: Path, capsys: pytest.CaptureFixture,
                                    argv: list[str], expected: str) -> None:
    fill = {"root": str(tiny.save_dir_root), "tmp": str(tmp_path)}
    assert _cli([a.format(**fill) for a in argv]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(expected.format(**fill)), err


def test_debug_log_level_keeps_the_traceback(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert _cli([str(tmp_path / "nowhere"), "--question", "q", "--passage", "p", "--log-level", "debug"]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "ReaderNotFound" in err
    assert err.strip().splitlines()[-1].startswith("error: ")


def test_tensorflow_start_up_noise_is_hidden_unless_debug() -> None:
    code = ("import sys; from ga_squad.cli.common import import_tensorflow; "
            "import_tensorflow(debug=sys.argv[1] == 'debug'); import tensorflow as tf; tf.constant(1) + 1")
    quiet = subprocess.run([sys.executable, "-c", code, "quiet"], cwd=REPO, capture_output=True, text=True,
                           check=True)
    assert quiet.stderr == ""
    loud = subprocess.run([sys.executable, "-c", code, "debug"], cwd=REPO, capture_output=True, text=True,
                          check=True, env={"PATH": "/usr/bin:/bin"})
    if not loud.stderr:
        pytest.skip("this TensorFlow build prints nothing at start-up: nothing to hide")

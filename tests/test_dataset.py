"""Vocabularies, arrays, batching and the on-disk cache of the data pipeline."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import shutil
import time
from pathlib import Path

import numpy as np
import pytest

from ga_squad.reader import data_cache
from ga_squad.reader import dataset as dataset_mod
from ga_squad.reader.arrays import BATCH_KEYS, iterate_batches, num_batches
from ga_squad.reader.data_cache import cache_key, load_dataset
from ga_squad.reader.dataset import DataConfig, build_dataset
from ga_squad.reader.evaluation import evaluate
from ga_squad.reader.squad import read_squad, split_by_article
from ga_squad.reader.vocab import PAD, UNK, Vocab, build_char_vocab, build_vocab, build_word_vocab

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_squad.json"
REPO = Path(__file__).resolve().parent.parent
SAMPLE_TRAIN = REPO / "data" / "squad_train_sample.json"
SAMPLE_DEV = REPO / "data" / "squad_dev_sample.json"
SAMPLE_GLOVE = REPO / "data" / "glove.sample.50d.txt"


def tiny_cfg(**kw) -> DataConfig:
    base = {"train_path": str(FIXTURE), "dev_path": str(FIXTURE), "max_word_len": 6, "val_fraction": 0.0}
    return DataConfig(**{**base, **kw})


def sample_cfg(**kw) -> DataConfig:
    base = {"train_path": str(SAMPLE_TRAIN), "dev_path": str(SAMPLE_DEV),
            "glove_path": str(SAMPLE_GLOVE), "train_limit": 300, "dev_limit": 150, "val_limit": 60}
    return DataConfig(**{**base, **kw})


@pytest.fixture(scope="module")
def sample():
    return build_dataset(sample_cfg())


# ------------------------------------------------------------------ vocab


def test_vocab_order_is_count_then_string():
    v = build_vocab({"b": 2, "a": 2, "c": 5, "rare": 1}, lowercase=True, min_count=2)
    assert v.tokens == ("<pad>", "<unk>", "c", "a", "b")
    assert v.counts == (0, 0, 5, 2, 2)
    assert (v.id("<pad>"), v.id("C"), v.id("rare")) == (PAD, 2, UNK)
    assert len(build_vocab({"b": 2, "a": 2, "c": 5}, lowercase=True, max_size=3)) == 3


def test_word_vocab_lowercases_and_char_vocab_does_not():
    sentences = [["The", "the", "THE", "Cat"]]
    words = build_word_vocab(sentences)
    assert words.tokens[2:] == ("the", "cat") and words.counts[2] == 3
    assert words.ids(["tHe", "dog"]) == [2, UNK]
    chars = build_char_vocab(sentences)
    assert "T" in chars and "t" in chars and chars.id("T") != chars.id("t")


def test_vocab_json_round_trip_and_validation():
    v = build_word_vocab([["Café", "naïve", "café"]])
    again = Vocab.from_json(v.to_json())
    assert again == v and again.id("CAFÉ") == v.id("café")
    with pytest.raises(ValueError):
        Vocab(("a", "b"), (0, 0), True)
    with pytest.raises(ValueError):
        build_vocab({}, lowercase=True, max_size=1)


# ----------------------------------------------------------------- config


def test_config_validation_and_dict_round_trip():
    cfg = tiny_cfg(train_limit=3)
    assert DataConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown DataConfig keys"):
        DataConfig.from_dict({**cfg.to_dict(), "max_pasage_len": 3})
    with pytest.raises(ValueError, match="max_passage_len"):
        tiny_cfg(max_passage_len=0)
    with pytest.raises(ValueError, match="dev_limit"):
        tiny_cfg(dev_limit=0)
    with pytest.raises(ValueError, match="val_fraction"):
        tiny_cfg(val_fraction=1.0)


# ----------------------------------------------------------------- arrays


def test_tiny_arrays_shapes_masks_and_spans():
    ds = build_dataset(tiny_cfg())
    tr = ds.train
    assert len(tr) == 5 and tr.qids[0] == "q1-quotes"
    n, lp = tr.passage_words.shape
    assert tr.passage_chars.shape == (n, lp, 6) and tr.passage_spans.shape == (n, lp, 2)
    assert tr.question_chars.shape[:2] == tr.question_words.shape
    for name in BATCH_KEYS:
        assert getattr(tr, name).dtype == (np.float32 if name.endswith("_features") else np.int32)
    # Feature rows are zero exactly where the tokens pad (term_freq > 0 on every real token).
    assert np.array_equal(tr.passage_words != 0, tr.passage_features[:, :, -1] > 0)
    assert np.array_equal(tr.question_words != 0, tr.question_features[:, :, -1] > 0)
    # mask = ids != 0 gives the token counts, and chars pad where words pad.
    assert (tr.passage_words != 0).sum(1).tolist() == [21, 21, 22, 22, 22]
    assert np.array_equal(tr.passage_words != 0, tr.passage_chars[:, :, 0] != 0)
    assert np.array_equal(tr.question_words != 0, tr.question_chars[:, :, 0] != 0)
    # Every gold token span maps back to the reference text.
    texts = tr.answer_texts(np.arange(n), tr.begin, tr.end)
    assert texts == ["Café Society", "$30 million", "Zoë", "the committee", "1990\u20131995"]
    assert tr.stats.bad_answers == 1 and tr.stats.inexact_spans == 0
    assert ds.dev.gold_answers()["q1-quotes"] == ["Café Society", '"Café Society"']
    assert ds.embeddings is None and ds.coverage is None
    # Words longer than max_word_len are cut; "Society" -> 6 chars.
    society = tr.passage_chars[0, 4]
    assert (society != 0).sum() == 6


def test_gold_spans_score_100_with_the_official_metric():
    dev = build_dataset(tiny_cfg()).dev
    preds = dev.predictions(np.arange(len(dev)), dev.begin, dev.end)
    assert evaluate(preds, dev.gold_answers()) == {"exact_match": 100.0, "f1": 100.0}


def test_truncation_drops_train_rows_but_keeps_dev_rows(caplog):
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.dataset"):
        ds = build_dataset(tiny_cfg(max_passage_len=10, max_question_len=3))
    # Answers ending at token >= 10: q2 ($30 million) and q4/q5 (end of passage 2).
    assert ds.train.qids == ("q1-quotes", "q3-unicode")
    assert ds.train.stats.dropped_truncated == 3
    assert len(ds.dev) == 5 and ds.dev.stats.no_span == 3
    assert ds.dev.passage_words.shape[1] == 10 and ds.train.question_words.shape[1] == 3
    assert "dropped 0 question(s) whose answer maps to no token and 3" in caplog.text


def test_limits_and_glove_embeddings(sample):
    assert len(sample.train) == 300 and len(sample.dev) == 150
    assert sample.embeddings is not None
    assert sample.embeddings.shape == (len(sample.word_vocab), 50)
    first = SAMPLE_GLOVE.read_text(encoding="utf-8").splitlines()[0].split(" ")
    the = np.asarray(first[1:], dtype=np.float32)
    np.testing.assert_array_equal(sample.embeddings[sample.word_vocab.id(first[0])], the)
    assert 0.3 < sample.coverage.vocab_fraction < 1
    assert 0.7 < sample.coverage.token_fraction < 1
    assert len(sample.val) == 60
    assert sample.train.stats.questions + sample.val.stats.questions == 1588


def test_validation_split_is_whole_unseen_articles():
    full = build_dataset(sample_cfg(train_limit=None, val_limit=None, dev_limit=10))
    assert 0.05 * 1588 <= len(full.val) < 0.25 * 1588  # one article of the 7, seeded
    assert set(full.train.contexts).isdisjoint(full.val.contexts)
    assert len(full.train) + len(full.val) == 1588
    train_read, val_read = split_by_article(read_squad(SAMPLE_TRAIN), 0.05)
    words = lambda exs: {w.lower() for ex in exs for t in (ex.context, ex.question)  # noqa: E731
                         for w in dataset_mod.tokenize(t).words}
    val_only = words(val_read.examples) - words(train_read.examples)
    assert val_only and all(full.word_vocab.id(w) == UNK for w in val_only)  # vocab from train only
    other = build_dataset(sample_cfg(train_limit=10, val_limit=None, dev_limit=10, val_seed=1))
    assert set(other.val.qids) != set(full.val.qids)


def test_dev_scores_every_question_even_without_a_located_span(tmp_path):
    doc = json.loads(FIXTURE.read_text(encoding="utf-8"))
    # q2's only answer is not at its answer_start: no training span, still a dev question.
    doc["data"][0]["paragraphs"][0]["qas"][1]["answers"][0]["answer_start"] = 3
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    ds = build_dataset(tiny_cfg(train_path=str(path), dev_path=str(path)))
    assert "q2-budget" not in ds.train.qids and ds.train.stats.dropped_unaligned == 1
    questions = sum(len(p["qas"]) for a in doc["data"] for p in a["paragraphs"])
    assert len(ds.dev) == ds.dev.stats.questions == questions
    gold = ds.dev.gold_answers()
    assert gold["q2-budget"] == ["$30 million"]
    assert gold["q5-misplaced"] == ["1995", "1990\u20131995"]  # misplaced answers still count
    perfect = {q: a[0] for q, a in gold.items()}
    assert evaluate(perfect, gold) == {"exact_match": 100.0, "f1": 100.0}


# --------------------------------------------------------------- batching


def test_batches_have_exact_keys_and_are_trimmed(sample):
    seen = []
    widths = set()
    for batch in iterate_batches(sample.train, 32, shuffle=True, seed=1):
        assert set(batch) == {*BATCH_KEYS, "index"}
        idx = batch["index"]
        seen.extend(idx.tolist())
        pw, qw = batch["passage_words"], batch["question_words"]
        assert batch["passage_chars"].shape == (*pw.shape, sample.train.passage_chars.shape[2])
        assert batch["question_chars"].shape[:2] == qw.shape
        # Trimmed to the longest row of the batch: the last column is used.
        assert (pw[:, -1] != 0).any() and (qw[:, -1] != 0).any()
        np.testing.assert_array_equal(pw, sample.train.passage_words[idx, : pw.shape[1]])
        assert (sample.train.passage_words[idx, pw.shape[1]:] == 0).all()
        assert (batch["end"] < pw.shape[1]).all()
        widths.add(pw.shape[1])
    assert sorted(seen) == list(range(len(sample.train)))
    assert len(widths) > 1
    assert num_batches(sample.train, 32) == 10


def test_batches_are_deterministic_given_the_seed(sample):
    def order(seed, **kw):
        return [b["index"].tolist() for b in iterate_batches(sample.train, 16, shuffle=True,
                                                             seed=seed, **kw)]
    assert order(7) == order(7)
    assert order(7) != order(8)
    assert order(7, bucket=False) == order(7, bucket=False) != order(7)
    plain = [b["index"].tolist() for b in iterate_batches(sample.train, 16, bucket=False)]
    assert sum(plain, []) == list(range(len(sample.train)))


def test_bucketing_reduces_padding(sample):
    def padding(**kw):
        return sum(int((b["passage_words"] == 0).sum())
                   for b in iterate_batches(sample.train, 16, shuffle=True, seed=0, **kw))
    assert padding(bucket=True) < 0.5 * padding(bucket=False)


# ------------------------------------------------------------------ cache


class _CountingTokenizer:
    def __init__(self) -> None:
        self.calls = 0
        self._real = dataset_mod.tokenize

    def __call__(self, text: str):
        self.calls += 1
        return self._real(text)


def _same(a, b) -> None:
    for split in ("train", "val", "dev"):
        x, y = getattr(a, split), getattr(b, split)
        for name in (*BATCH_KEYS, "passage_spans", "context_index"):
            np.testing.assert_array_equal(getattr(x, name), getattr(y, name))
        assert (x.qids, x.contexts, x.answers, x.stats) == (y.qids, y.contexts, y.answers, y.stats)
    assert a.word_vocab == b.word_vocab and a.char_vocab == b.char_vocab
    np.testing.assert_array_equal(a.embeddings, b.embeddings)
    assert a.coverage == b.coverage


def test_second_load_hits_the_cache_without_tokenizing(tmp_path, monkeypatch):
    counter = _CountingTokenizer()
    monkeypatch.setattr(dataset_mod, "tokenize", counter)
    cfg = sample_cfg(train_limit=40, dev_limit=20)
    first = load_dataset(cfg, tmp_path)
    assert counter.calls > 0 and not first.from_cache
    calls = counter.calls
    second = load_dataset(cfg, tmp_path)
    assert counter.calls == calls and second.from_cache
    assert second.cache_path == first.cache_path
    _same(first, second)
    assert [p.name for p in tmp_path.iterdir()] == [Path(first.cache_path).name]


def test_cache_key_follows_content_and_settings_not_paths(tmp_path):
    cfg = tiny_cfg()
    copy = tmp_path / "copy.json"
    shutil.copy(FIXTURE, copy)
    assert cache_key(cfg) == cache_key(tiny_cfg(train_path=str(copy), dev_path=str(copy)))
    assert cache_key(cfg) != cache_key(tiny_cfg(max_passage_len=50))
    assert cache_key(cfg) != cache_key(tiny_cfg(seed=1))
    assert len({cache_key(cfg), cache_key(tiny_cfg(val_fraction=0.1)), cache_key(tiny_cfg(val_seed=1)),
                cache_key(tiny_cfg(val_limit=1))}) == 4
    copy.write_text(copy.read_text(encoding="utf-8").replace("Woody", "W."), encoding="utf-8")
    assert cache_key(cfg) != cache_key(tiny_cfg(train_path=str(copy)))


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_corrupt_cache_is_warned_about_and_rebuilt(tmp_path, caplog, damage):
    cfg = tiny_cfg()
    good = load_dataset(cfg, tmp_path)
    path = Path(good.cache_path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(data[:100] + bytes(len(data) - 100))
    else:
        path.write_bytes(b"")
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.dataset"):
        rebuilt = load_dataset(cfg, tmp_path)
    assert not rebuilt.from_cache
    assert "corrupt" in caplog.text and str(path) in caplog.text
    again = load_dataset(cfg, tmp_path)
    assert again.from_cache
    np.testing.assert_array_equal(again.train.passage_words, good.train.passage_words)


def _race_worker(cfg_dict, cache_dir, barrier, queue) -> None:
    barrier.wait(timeout=30)
    ds = load_dataset(DataConfig.from_dict(cfg_dict), cache_dir)
    digest = [int(ds.train.passage_words.sum()), int(ds.dev.question_chars.sum()),
              float(ds.embeddings.sum()), ds.train.qids]
    queue.put(digest)


def _read_fully(path: Path) -> None:
    with np.load(path, allow_pickle=False) as z:
        for name in z.files:
            z[name]


def test_two_processes_racing_on_the_cache(tmp_path):
    """Both build, one rename wins, and nobody ever sees a partial file."""
    cfg = sample_cfg(train_limit=60, dev_limit=30)
    # spawn, not fork: safe even if another test module has started TF threads.
    ctx = mp.get_context("spawn")
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_race_worker, args=(cfg.to_dict(), str(tmp_path), barrier, queue))
             for _ in range(2)]
    for p in procs:
        p.start()
    final = data_cache._cache_file(tmp_path, cache_key(cfg))
    while any(p.is_alive() for p in procs):
        if final.exists():
            _read_fully(final)  # raises if a reader could ever see a partial file
        time.sleep(0.01)
    results = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    assert results[0] == results[1]
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [final.name]  # no temporary file left behind
    cached = load_dataset(cfg, tmp_path)
    assert cached.from_cache
    _same(cached, build_dataset(cfg))


def test_dev_skip_reports_on_a_later_range_of_dev_questions():
    """docs/protocol.md's shared-data figures use dev questions 2,001-6,000: dev_skip + dev_limit pick a range."""
    whole = build_dataset(sample_cfg(train_limit=20, val_limit=10, dev_limit=12)).dev.qids
    later = build_dataset(sample_cfg(train_limit=20, val_limit=10, dev_skip=5, dev_limit=4)).dev.qids
    assert later == whole[5:9]
    tail = build_dataset(sample_cfg(train_limit=20, val_limit=10, dev_skip=5, dev_limit=None)).dev.qids
    assert tail[:7] == whole[5:12] and whole[0] not in tail
    with pytest.raises(ValueError, match="dev_skip"):
        sample_cfg(dev_skip=-1)

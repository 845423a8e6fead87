"""Official SQuAD v1.1 EM/F1 on hand-computed cases; span decoding vs brute force."""

from __future__ import annotations

import json
import logging

import numpy as np
import pytest

from ga_squad.reader.evaluation import (
    decode_best_span,
    evaluate,
    exact_match_score,
    f1_score,
    metric_max_over_ground_truths,
    normalize_answer,
    span_text,
    spans_to_texts,
    write_predictions,
)
from ga_squad.reader.tokenize import tokenize


@pytest.mark.parametrize(
    ("raw", "normalised"),
    [
        ("The Cat!", "cat"),
        ("an apple a day", "apple day"),
        ("  Several   spaces\tand\nlines ", "several spaces and lines"),
        ("the-end", "theend"),            # punctuation goes before articles
        ("Theatre and another", "theatre and another"),  # only whole words
        ("A", ""),
        ("$30,000.", "30000"),
        ("\u201cquoted\u201d", "\u201cquoted\u201d"),  # non-ASCII punctuation is kept
        ("Zoë's CAFÉ", "zoës café"),
    ],
)
def test_normalize_answer(raw, normalised):
    assert normalize_answer(raw) == normalised


def test_exact_match():
    assert exact_match_score("The Denver Broncos", "denver broncos!") == 1.0
    assert exact_match_score("Denver", "Denver Broncos") == 0.0


def test_f1_hand_computed():
    # pred [cat, sat], gold [cat, sat, on, mat]: P = 1, R = 1/2, F1 = 2/3.
    assert f1_score("the cat sat", "cat sat on the mat") == pytest.approx(2 / 3)
    # Multiset overlap: pred [x, x, y], gold [x, y, y] share {x, y}: P = R = 2/3.
    assert f1_score("x x y", "x y y") == pytest.approx(2 / 3)
    assert f1_score("completely", "different") == 0.0
    assert f1_score("Denver Broncos.", "the denver broncos") == 1.0


def test_official_quirk_empty_normalisation():
    # Both normalise to "": exact match, yet F1 is 0 (no shared token).
    assert exact_match_score("The", "a") == 1.0
    assert f1_score("The", "a") == 0.0


def test_max_over_multiple_references():
    golds = ["Denver Broncos", "the Broncos", "Broncos"]
    assert metric_max_over_ground_truths(exact_match_score, "broncos", golds) == 1.0
    assert metric_max_over_ground_truths(f1_score, "Denver", golds) == pytest.approx(2 / 3)
    with pytest.raises(ValueError):
        metric_max_over_ground_truths(f1_score, "x", [])


def test_evaluate_is_on_a_0_to_100_scale(caplog):
    gold = {"a": ["Denver Broncos", "Broncos"], "b": ["cat sat on the mat"], "c": ["1990"]}
    preds = {"a": "the Broncos", "b": "the cat sat", "extra": "ignored"}
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.evaluation"):
        result = evaluate(preds, gold)
    assert result["exact_match"] == pytest.approx(100 / 3)
    assert result["f1"] == pytest.approx(100 * (1 + 2 / 3 + 0) / 3)
    assert "1 of 3 questions have no prediction" in caplog.text
    assert evaluate({"a": "Broncos"}, {"a": ["Broncos"]}) == {"exact_match": 100.0, "f1": 100.0}
    with pytest.raises(ValueError):
        evaluate({}, {})


def _brute_force(begin, end, mask, max_len):
    best, arg = -np.inf, (0, 0)
    found = False
    for s in range(len(begin)):
        for e in range(s, min(s + max_len, len(begin))):
            if mask[s] and mask[e] and (not found or begin[s] + end[e] > best):
                best, arg, found = begin[s] + end[e], (s, e), True
    return arg


@pytest.mark.parametrize("max_len", [1, 3, 15, 50])
def test_decode_best_span_matches_brute_force(max_len):
    rng = np.random.default_rng(max_len)
    batch, length = 16, 23
    begin = rng.normal(size=(batch, length)).astype(np.float32)
    end = rng.normal(size=(batch, length)).astype(np.float32)
    lengths = rng.integers(1, length + 1, size=batch)
    mask = np.arange(length)[None, :] < lengths[:, None]
    starts, ends = decode_best_span(begin, end, mask, max_len)
    assert starts.shape == ends.shape == (batch,)
    for b in range(batch):
        assert (starts[b], ends[b]) == _brute_force(begin[b], end[b], mask[b], max_len)
        assert starts[b] <= ends[b] < min(starts[b] + max_len, lengths[b])


def test_decode_respects_mask_holes_and_single_examples():
    begin = np.array([0.0, 9.0, 1.0, 0.0])
    end = np.array([0.0, 0.0, 9.0, 1.0])
    assert decode_best_span(begin, end, None, 5) == (1, 2)
    mask = np.array([1, 0, 1, 1])
    s, e = decode_best_span(begin, end, mask, 5)
    assert (s, e) == (2, 2)
    assert decode_best_span(begin, end, None, 1) == (2, 2)  # 1 + 9 beats 9 + 0


def test_decode_degenerate_rows():
    begin = np.array([[1.0, 2.0], [-np.inf, -np.inf]])
    end = np.array([[1.0, 2.0], [-np.inf, -np.inf]])
    mask = np.array([[0, 0], [1, 1]])
    starts, ends = decode_best_span(begin, end, mask, 3)
    assert (starts[0], ends[0]) == (0, 0)  # no real token
    assert (starts[1], ends[1]) == (0, 0)  # all -inf: first legal span
    with pytest.raises(ValueError):
        decode_best_span(begin, end[:, :1], None, 3)


def test_token_spans_back_to_original_text():
    context = 'The film "Café Society" was released in 2016.'
    tokens = tokenize(context)
    spans = np.asarray(tokens.spans)
    assert span_text(context, spans, 3, 4) == "Café Society"
    assert span_text(context, spans, 2, 5) == '"Café Society"'
    batch = np.stack([spans, spans])
    assert spans_to_texts([context, context], batch, np.array([9, 0]), np.array([9, 1])) == [
        "2016", "The film"]


def test_write_predictions_official_format(tmp_path):
    path = tmp_path / "preds" / "dev_predictions.json"
    write_predictions(path, {"q1": "Café Society", "q2": ""})
    assert json.loads(path.read_text(encoding="utf-8")) == {"q1": "Café Society", "q2": ""}
    write_predictions(path, {"q1": "x"})
    assert json.loads(path.read_text(encoding="utf-8")) == {"q1": "x"}
    assert [p.name for p in path.parent.iterdir()] == ["dev_predictions.json"]

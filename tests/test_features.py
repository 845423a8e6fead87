"""Per-token features computed offline: literal texts, values worked out by hand."""

from __future__ import annotations

import numpy as np

from ga_squad.reader.features import FEATURE_COLUMNS, TokenFeaturizer

COL = {name: i for i, name in enumerate(FEATURE_COLUMNS)}


def test_passage_tokens_against_their_question() -> None:
    passage = ["Paris", "hosted", "the", "1900", "Games", "in", "paris"]
    question = ["Which", "city", "hosts", "the", "games", "?"]
    rows = TokenFeaturizer().rows(passage, question)
    assert rows.shape == (7, len(FEATURE_COLUMNS)) and rows.dtype == np.float32
    np.testing.assert_array_equal(rows[:, COL["exact_match"]], [0, 0, 1, 0, 0, 0, 0])
    np.testing.assert_array_equal(rows[:, COL["exact_match_lower"]], [0, 0, 1, 0, 1, 0, 0])
    # "hosted"/"hosts" share the stem "host"; "Games"/"games" the stem "game".
    np.testing.assert_array_equal(rows[:, COL["exact_match_stem"]], [0, 1, 1, 0, 1, 0, 0])
    np.testing.assert_array_equal(rows[:, COL["is_capitalized"]], [1, 0, 0, 0, 1, 0, 0])
    np.testing.assert_array_equal(rows[:, COL["is_numeric"]], [0, 0, 0, 1, 0, 0, 0])
    np.testing.assert_allclose(rows[:, COL["term_freq"]], [2 / 7, 1 / 7, 1 / 7, 1 / 7, 1 / 7, 1 / 7, 2 / 7])


def test_empty_texts() -> None:
    assert TokenFeaturizer().rows([], ["a"]).shape == (0, len(FEATURE_COLUMNS))
    assert not TokenFeaturizer().rows(["a"], []).any(axis=0)[:3].any()

"""Per-token input features the data pipeline computes offline (DrQA's paragraph features).

One float column per name in :data:`ga_squad.search.vocabulary.FEATURE_COLUMNS`,
for every passage token (matched against its question) and every question
token (matched against its passage): exact match as written, lower-cased and
Porter-stemmed, capitalisation and digit flags, and normalised term
frequency. Stemming (``nltk.stem.PorterStemmer``) is pure code, so nothing is
downloaded at run time; POS and NER tags would need tagger data that the
offline setup does not have, so the flags stand in for them.

A graph switches columns on per input layer (``Layer.features``); the model
selects them (:func:`ga_squad.search.vocabulary.feature_columns`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from nltk.stem import PorterStemmer

from ga_squad.search.vocabulary import FEATURE_COLUMNS

__all__ = ["FEATURE_COLUMNS", "TokenFeaturizer"]


class TokenFeaturizer:
    """Feature rows of token lists; stems are memoised per distinct word."""

    def __init__(self, cache_size: int = 1 << 18) -> None:
        stemmer = PorterStemmer()
        self._stem = lru_cache(maxsize=cache_size)(lambda w: stemmer.stem(w.lower()))

    def rows(self, tokens: Sequence[str], other: Sequence[str]) -> np.ndarray:
        """``float32 [len(tokens), len(FEATURE_COLUMNS)]``: ``tokens`` matched against ``other``.

        Args:
            tokens: The text whose tokens get features (as written).
            other: The text they are matched against (the question for a
                passage, the passage for a question).
        """
        out = np.zeros((len(tokens), len(FEATURE_COLUMNS)), dtype=np.float32)
        if not tokens:
            return out
        exact = set(other)
        lower = {w.lower() for w in other}
        stems = {self._stem(w) for w in other}
        counts = Counter(w.lower() for w in tokens)
        n = float(len(tokens))
        for i, word in enumerate(tokens):
            out[i, 0] = word in exact
            out[i, 1] = word.lower() in lower
            out[i, 2] = self._stem(word) in stems
            out[i, 3] = word[:1].isupper()
            out[i, 4] = any(c.isdigit() for c in word)
            out[i, 5] = counts[word.lower()] / n
        return out

"""Official SQuAD v1.1 scoring and span decoding, as pure functions.

Every F1 and EM of the project comes from here: the validation scores the
search selects on (its default fitness is the validation F1) and the dev
scores it reports, which must be exactly the ones papers report: the
official v1.1 script's answer normalisation, exact match and token F1,
maximised over the reference answers and averaged on a 0-100 scale. Decoding the model's begin/end scores
into the best legal span, and that span back into text through the passage's
character offsets, lives here too: they are the other half of "what answer
did the model give".
"""

from __future__ import annotations

import logging
import os
import re
import string
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from ga_squad.files import write_json_atomic

__all__ = [
    "decode_best_span",
    "evaluate",
    "exact_match_score",
    "f1_score",
    "metric_max_over_ground_truths",
    "normalize_answer",
    "span_text",
    "spans_to_texts",
    "write_predictions",
]

logger = logging.getLogger(__name__)

_PUNCT = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b")


def normalize_answer(s: str) -> str:
    """Lowercase, drop ASCII punctuation and the articles a/an/the, squash spaces.

    Same steps in the same order as the official v1.1 ``evaluate-v1.1.py``
    (punctuation is removed before articles, so "the-end" -> "theend").
    """
    text = s.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match_score(prediction: str, ground_truth: str) -> float:
    """1.0 if both strings normalise to the same text, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1_score(prediction: str, ground_truth: str) -> float:
    """Bag-of-tokens F1 between normalised prediction and reference.

    As in the official script, F1 is 0 whenever no token is shared, which
    includes the case where both normalise to empty (e.g. "The" vs "a"), even
    though their exact match is 1.
    """
    pred = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    same = sum((Counter(pred) & Counter(gold)).values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(gold)
    return 2 * precision * recall / (precision + recall)


def metric_max_over_ground_truths(
    metric: Callable[[str, str], float], prediction: str, ground_truths: Sequence[str]
) -> float:
    """Best score of ``prediction`` against any of the references."""
    if not ground_truths:
        raise ValueError("no ground-truth answers given")
    return max(metric(prediction, gt) for gt in ground_truths)


def evaluate(predictions: Mapping[str, str], gold: Mapping[str, Sequence[str]]) -> dict[str, float]:
    """Score predictions like the official SQuAD v1.1 script.

    Args:
        predictions: ``{qid: answer_text}``; entries for unknown qids are
            ignored, as the official script does.
        gold: ``{qid: [reference answers]}`` for every question to score.

    Returns:
        ``{"exact_match": em, "f1": f1}`` as percentages on a 0-100 scale (not
        fractions), averaged over all questions in ``gold``. A question with
        no prediction scores 0 on both; one warning reports how many.

    Raises:
        ValueError: if ``gold`` is empty.
    """
    if not gold:
        raise ValueError("cannot evaluate against an empty gold set")
    em = f1 = 0.0
    missing = 0
    for qid, answers in gold.items():
        if qid not in predictions:
            missing += 1
            continue
        pred = predictions[qid]
        em += metric_max_over_ground_truths(exact_match_score, pred, answers)
        f1 += metric_max_over_ground_truths(f1_score, pred, answers)
    if missing:
        logger.warning("%d of %d questions have no prediction and score 0", missing, len(gold))
    return {"exact_match": 100.0 * em / len(gold), "f1": 100.0 * f1 / len(gold)}


def decode_best_span(
    begin_logits: np.ndarray,
    end_logits: np.ndarray,
    mask: np.ndarray | None = None,
    max_answer_len: int = 15,
) -> tuple[Any, Any]:
    """Best answer span per example, vectorised over the batch.

    Picks ``start <= end < start + max_answer_len`` with both positions inside
    the mask, maximising ``begin_logits[start] + end_logits[end]``; ties go to
    the smallest start, then the smallest end. Memory is ``O(B * L *
    max_answer_len)``, not ``O(B * L^2)``.

    Args:
        begin_logits: ``[B, L]`` (or ``[L]``) start scores (logits or
            log-probabilities; any monotone score works).
        end_logits: Same shape, end scores.
        mask: Same shape, true/nonzero at real tokens; None means all real.
        max_answer_len: Longest allowed span, in tokens.

    Returns:
        ``(start, end)`` int64 arrays of shape ``[B]`` (Python ints for 1-D
        input), inclusive token indices. A row with no real token gets (0, 0).
    """
    if max_answer_len < 1:
        raise ValueError(f"max_answer_len must be >= 1, got {max_answer_len}")
    begin = np.asarray(begin_logits, dtype=np.float64)
    end = np.asarray(end_logits, dtype=np.float64)
    if begin.shape != end.shape or begin.ndim not in (1, 2):
        raise ValueError(f"logits must both be [B, L] or [L]; got {begin.shape} and {end.shape}")
    squeeze = begin.ndim == 1
    if squeeze:
        begin, end = begin[None], end[None]
    if mask is None:
        real = np.ones(begin.shape, bool)
    else:
        real = np.asarray(mask).reshape(begin.shape) != 0
    batch, length = begin.shape
    width = min(max_answer_len, length)
    # windows[b, s, k] looks at end position s + k (past the end: padding).
    pad = ((0, 0), (0, width - 1))
    end_win = np.lib.stride_tricks.sliding_window_view(
        np.pad(end, pad, constant_values=-np.inf), width, axis=1)
    real_win = np.lib.stride_tricks.sliding_window_view(
        np.pad(real, pad, constant_values=False), width, axis=1)
    valid = real[:, :, None] & real_win
    scores = np.where(valid, begin[:, :, None] + end_win, -np.inf)
    flat = scores.reshape(batch, -1)
    best = flat.argmax(axis=1)
    # If every legal score is -inf (or there is none), argmax may land on an
    # illegal cell; take the first legal one instead, else (0, 0).
    flat_valid = valid.reshape(batch, -1)
    rows = np.arange(batch)
    bad = ~flat_valid[rows, best]
    best[bad] = np.where(flat_valid[bad].any(axis=1), flat_valid[bad].argmax(axis=1), 0)
    start = best // width
    stop = np.where(flat_valid[rows, best], start + best % width, start)
    if squeeze:
        return int(start[0]), int(stop[0])
    return start, stop


def span_text(
    context: str, char_spans: np.ndarray | Sequence[tuple[int, int]], start: int, end: int
) -> str:
    """Original passage text covered by tokens ``start..end`` (inclusive)."""
    return context[int(char_spans[start][0]):int(char_spans[end][1])]


def spans_to_texts(
    contexts: Sequence[str], char_spans: np.ndarray, starts: np.ndarray, ends: np.ndarray
) -> list[str]:
    """Answer texts for a batch of token spans.

    Args:
        contexts: Passage strings, one per row.
        char_spans: ``[B, L, 2]`` token character offsets into each passage.
        starts: ``[B]`` first answer token.
        ends: ``[B]`` last answer token (inclusive).
    """
    return [
        span_text(c, sp, int(s), int(e))
        for c, sp, s, e in zip(contexts, char_spans, starts, ends, strict=True)
    ]


def write_predictions(path: str | os.PathLike[str], predictions: Mapping[str, str]) -> None:
    """Write ``{qid: answer_text}`` in the official prediction-file format, atomically."""
    write_json_atomic(path, dict(predictions))

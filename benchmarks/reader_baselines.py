"""Two non-neural SQuAD baselines, scored with the project's official metric.

* **Sliding window** (Richardson et al. 2013, as the baseline of Rajpurkar et
  al. 2016, "SQuAD: 100,000+ Questions"): every candidate span ``A`` of up to
  ``max_len`` tokens that shares no word with the question is scored by the
  best window of ``|Q u A|`` tokens around it: the sum of ``IC(w) =
  log(1 + 1/count(w))`` (counts in the passage) over window tokens that
  occur in the question, plus ``IC`` of the candidate's own tokens. The
  paper takes constituents of a parse as candidates (no parser offline):
  here every short span is one, so our number is a re-implementation, not
  the published 20.2 dev F1.
* **Best-overlap sentence**: the passage sentence sharing the most
  (non-stopword, lower-cased) words with the question, predicted whole.
  It says how much a reader gains over "find the right sentence".
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence

from ga_squad.reader.evaluation import evaluate
from ga_squad.reader.squad import SquadExample
from ga_squad.reader.tokenize import tokenize

__all__ = ["best_sentence_answer", "score_baselines", "sliding_window_answer"]

# A short English stopword list (nltk's corpus needs a download).
STOPWORDS = frozenset("""
a an the of in on at to for from by with and or but is are was were be been being do does did
what which who whom whose when where why how that this these those it its as into than then
there their they he she his her him i you we our your not no yes can could would should will
""".split())
_WORD = re.compile(r"\w")


def _content(word: str) -> bool:
    return bool(_WORD.search(word)) and word.lower() not in STOPWORDS


def sliding_window_answer(passage: Sequence[str], question: Sequence[str], max_len: int = 3) -> tuple[int, int]:
    """Token span ``(start, end)`` (inclusive) chosen by the sliding-window baseline."""
    words = [w.lower() for w in passage]
    q_words = {w.lower() for w in question if _WORD.search(w)}
    counts = Counter(words)
    ic = [math.log(1.0 + 1.0 / counts[w]) for w in words]
    q_gain = [ic[i] if words[i] in q_words else 0.0 for i in range(len(words))]
    prefix = [0.0]
    for g in q_gain:
        prefix.append(prefix[-1] + g)
    n = len(words)
    best, best_span = -1.0, (0, 0)
    for start in range(n):
        for end in range(start, min(n, start + max_len)):
            span = words[start:end + 1]
            if any(w in q_words or not _WORD.search(w) for w in span):
                break  # longer spans from this start contain it too
            k = len(q_words | set(span))
            own = sum(ic[start:end + 1])
            # Windows of k tokens that contain the whole span.
            lo, hi = max(0, end - k + 1), min(start, n - k) if n >= k else 0
            window = max((prefix[s + k] - prefix[s] for s in range(lo, hi + 1)), default=prefix[n])
            score = own + window
            if score > best:
                best, best_span = score, (start, end)
    return best_span


def best_sentence_answer(passage: Sequence[str], question: Sequence[str]) -> tuple[int, int]:
    """Token span of the sentence with the largest content-word overlap with the question."""
    q_words = {w.lower() for w in question if _content(w)}
    sentences: list[tuple[int, int]] = []
    start = 0
    for i, w in enumerate(passage):
        if w in (".", "?", "!") or i == len(passage) - 1:
            sentences.append((start, i))
            start = i + 1
    if not sentences:
        return (0, 0)
    overlap = [len(q_words & {w.lower() for w in passage[s:e + 1]}) for s, e in sentences]
    return sentences[max(range(len(sentences)), key=lambda i: (overlap[i], -i))]


def score_baselines(examples: Sequence[SquadExample]) -> dict[str, dict[str, float]]:
    """``{baseline: {"f1", "em", "questions"}}`` on ``examples`` with the official metric."""
    passages: dict[str, object] = {}
    predictions: dict[str, dict[str, str]] = {"sliding_window": {}, "best_sentence": {}}
    for ex in examples:
        toks = passages.get(ex.context)
        if toks is None:
            toks = passages[ex.context] = tokenize(ex.context)
        question = tokenize(ex.question).words
        for name, pick in (("sliding_window", sliding_window_answer), ("best_sentence", best_sentence_answer)):
            s, e = pick(toks.words, question)
            text = ex.context[toks.spans[s][0]:toks.spans[e][1]] if toks.words else ""
            predictions[name][ex.qid] = text
    gold = {ex.qid: list(ex.answers) for ex in examples}
    out = {}
    for name, pred in predictions.items():
        scores = evaluate(pred, gold)
        out[name] = {"f1": scores["f1"], "em": scores["exact_match"], "questions": len(gold)}
    return out

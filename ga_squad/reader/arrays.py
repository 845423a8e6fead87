"""One split of SQuAD as padded int32 arrays, and the batches a trial iterates over.

Conventions that the model code relies on:

* id 0 is padding in every id array, so ``mask = ids != 0``;
* ``begin``/``end`` are inclusive token indices into the passage;
* batches from :func:`iterate_batches` have exactly the keys
  ``question_words, question_chars, passage_words, passage_chars,
  question_features, passage_features, begin, end`` plus ``index`` (rows
  into the split, to recover qid and text); the feature arrays are float32
  (one column per :data:`~ga_squad.search.vocabulary.FEATURE_COLUMNS` name).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from ga_squad.reader.evaluation import spans_to_texts
from ga_squad.search.vocabulary import FEATURE_COLUMNS

__all__ = ["ARRAY_FIELDS", "BATCH_KEYS", "SplitStats", "SquadArrays", "iterate_batches", "num_batches"]

BATCH_KEYS = ("question_words", "question_chars", "passage_words", "passage_chars",
              "question_features", "passage_features", "begin", "end")
ARRAY_FIELDS = (*BATCH_KEYS, "passage_spans", "context_index")


@dataclass(frozen=True)
class SplitStats:
    """What happened to the questions of one split.

    Attributes:
        questions: Questions in the file.
        examples: Rows in the arrays.
        bad_answers: Answers whose text is not at answer_start (scored, never
            used as a training span).
        skipped_questions: Questions without any answer (cannot be scored).
        dropped_unaligned: Training questions whose answer maps to no token
            (including those with no answer at its answer_start).
        dropped_truncated: Training questions whose answer lies beyond
            ``max_passage_len``.
        no_span: Dev rows with no reference answer inside the kept tokens;
            they keep ``begin = end = 0`` and are still scored on text.
        inexact_spans: Rows whose token span text differs from the answer
            (the answer starts or ends inside a token).
    """

    questions: int
    examples: int
    bad_answers: int = 0
    skipped_questions: int = 0
    dropped_unaligned: int = 0
    dropped_truncated: int = 0
    no_span: int = 0
    inexact_spans: int = 0


@dataclass(frozen=True, eq=False)
class SquadArrays:
    """One split as padded int32 arrays plus what evaluation needs.

    Attributes:
        question_words: ``[N, Lq]`` word ids (0 = padding).
        question_chars: ``[N, Lq, W]`` char ids (0 = padding).
        passage_words: ``[N, Lp]`` word ids.
        passage_chars: ``[N, Lp, W]`` char ids.
        begin: ``[N]`` first answer token.
        end: ``[N]`` last answer token (inclusive).
        passage_spans: ``[N, Lp, 2]`` character offsets of each passage token
            in its context (``(0, 0)`` for padding).
        context_index: ``[N]`` row -> index into ``contexts``.
        contexts: Distinct passage strings.
        qids: Question id per row.
        answers: Reference answers per row (all of them, for scoring).
        stats: Counts of what was dropped or approximate.
        question_features: ``float32 [N, Lq, F]`` per-token features (columns
            :data:`ga_squad.reader.features.FEATURE_COLUMNS`).
        passage_features: ``float32 [N, Lp, F]``.
        feature_names: The columns the feature arrays hold: what a graph's
            input features may use.
    """

    question_words: np.ndarray
    question_chars: np.ndarray
    passage_words: np.ndarray
    passage_chars: np.ndarray
    begin: np.ndarray
    end: np.ndarray
    passage_spans: np.ndarray
    context_index: np.ndarray
    contexts: tuple[str, ...]
    qids: tuple[str, ...]
    answers: tuple[tuple[str, ...], ...]
    stats: SplitStats
    question_features: np.ndarray | None = None
    passage_features: np.ndarray | None = None
    feature_names: tuple[str, ...] = FEATURE_COLUMNS

    def __post_init__(self) -> None:
        for name, words in (("question_features", self.question_words), ("passage_features", self.passage_words)):
            if getattr(self, name) is None:  # built without features: zero columns
                object.__setattr__(self, name, np.zeros((*words.shape, 0), np.float32))
                object.__setattr__(self, "feature_names", ())
        for name, words in (("question_features", self.question_words), ("passage_features", self.passage_words)):
            a = getattr(self, name)
            if a.dtype != np.float32 or a.shape[:2] != words.shape or a.shape[2] != len(self.feature_names):
                raise ValueError(f"{name}: expected float32 {(*words.shape, len(self.feature_names))}, "
                                 f"got {a.dtype} {a.shape}")
        n = len(self.qids)
        expect = {
            "question_words": 2, "question_chars": 3, "passage_words": 2,
            "passage_chars": 3, "begin": 1, "end": 1, "passage_spans": 3, "context_index": 1,
        }
        for name, ndim in expect.items():
            a = getattr(self, name)
            if a.ndim != ndim or a.shape[0] != n or a.dtype != np.int32:
                raise ValueError(f"{name}: expected int32 with {ndim} dims and {n} rows, "
                                 f"got {a.dtype} {a.shape}")
        if self.passage_words.shape != self.passage_chars.shape[:2] or \
                self.passage_spans.shape[:2] != self.passage_words.shape:
            raise ValueError("passage arrays disagree in shape")
        if self.question_words.shape != self.question_chars.shape[:2]:
            raise ValueError("question arrays disagree in shape")
        if len(self.answers) != n:
            raise ValueError(f"{len(self.answers)} answer lists for {n} rows")
        if n and (self.context_index.min() < 0 or self.context_index.max() >= len(self.contexts)):
            raise ValueError("context_index out of range")

    def __len__(self) -> int:
        return len(self.qids)

    def context(self, row: int) -> str:
        """Passage string of a row."""
        return self.contexts[int(self.context_index[row])]

    def gold_answers(self) -> dict[str, list[str]]:
        """``{qid: [reference answers]}`` for :func:`ga_squad.reader.evaluation.evaluate`."""
        return {q: list(a) for q, a in zip(self.qids, self.answers)}

    def answer_texts(self, index: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> list[str]:
        """Original text of predicted token spans for rows ``index``."""
        index = np.asarray(index)
        contexts = [self.context(i) for i in index]
        return spans_to_texts(contexts, self.passage_spans[index], starts, ends)

    def predictions(
        self, index: np.ndarray, starts: np.ndarray, ends: np.ndarray
    ) -> dict[str, str]:
        """``{qid: answer_text}`` for predicted spans of rows ``index``."""
        texts = self.answer_texts(index, starts, ends)
        return {self.qids[int(i)]: t for i, t in zip(np.asarray(index), texts)}


def num_batches(arrays: SquadArrays, batch_size: int) -> int:
    """How many batches :func:`iterate_batches` yields for a split."""
    return -(-len(arrays) // batch_size)


def iterate_batches(
    arrays: SquadArrays,
    batch_size: int,
    shuffle: bool = False,
    seed: int = 0,
    bucket: bool = True,
    bucket_batches: int = 20,
) -> Iterator[dict[str, np.ndarray]]:
    """Yield batches of a split, padded only as far as each batch needs.

    With ``bucket=True`` the (optionally shuffled) rows are cut into chunks
    of ``batch_size * bucket_batches``, each chunk is sorted by passage
    length and cut into batches, and with ``shuffle`` the batch order is
    shuffled too. Similar lengths share a batch, so little compute goes on
    padding. Every batch is then trimmed to its longest passage and question,
    so widths vary between batches; the char width stays ``W``.

    Args:
        arrays: The split.
        batch_size: Rows per batch (the last batch may be smaller).
        shuffle: Shuffle rows (and batches) with ``seed``.
        seed: Seed of the numpy Generator; same seed, same batches.
        bucket: Group rows of similar passage length.
        bucket_batches: Batches per sorting chunk.

    Yields:
        Dicts with keys ``question_words [B, lq]``, ``question_chars [B, lq,
        W]``, ``passage_words [B, lp]``, ``passage_chars [B, lp, W]``,
        ``begin [B]``, ``end [B]`` (int32) and ``index [B]`` (int64 rows of
        ``arrays``, for qids and answer text).
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    rng = np.random.default_rng(seed)
    n = len(arrays)
    order = rng.permutation(n) if shuffle else np.arange(n)
    p_len = (arrays.passage_words != 0).sum(axis=1)
    q_len = (arrays.question_words != 0).sum(axis=1)
    batches: list[np.ndarray] = []
    if bucket:
        chunk = batch_size * max(1, bucket_batches)
        for c in range(0, n, chunk):
            part = order[c:c + chunk]
            part = part[np.argsort(p_len[part], kind="stable")]
            batches.extend(part[i:i + batch_size] for i in range(0, len(part), batch_size))
        if shuffle:
            batches = [batches[i] for i in rng.permutation(len(batches))]
    else:
        batches = [order[i:i + batch_size] for i in range(0, n, batch_size)]
    for idx in batches:
        lp = max(1, int(p_len[idx].max()))
        lq = max(1, int(q_len[idx].max()))
        yield {
            "question_words": arrays.question_words[idx, :lq],
            "question_chars": arrays.question_chars[idx, :lq],
            "passage_words": arrays.passage_words[idx, :lp],
            "passage_chars": arrays.passage_chars[idx, :lp],
            "question_features": arrays.question_features[idx, :lq],
            "passage_features": arrays.passage_features[idx, :lp],
            "begin": arrays.begin[idx],
            "end": arrays.end[idx],
            "index": idx.astype(np.int64),
        }

"""Turn SQuAD files into a :class:`Dataset`: tokenise, build vocabularies, encode, embed.

The settings that determine the arrays are one :class:`DataConfig`; the
arrays and batching live in :mod:`ga_squad.reader.arrays`, the on-disk cache
that lets many trials share one preprocessing in :mod:`ga_squad.reader.data_cache`.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from ga_squad.reader.arrays import SplitStats, SquadArrays
from ga_squad.reader.config import config_from_dict
from ga_squad.reader.features import FEATURE_COLUMNS, TokenFeaturizer
from ga_squad.reader.glove import GloveCoverage, build_embedding_matrix, read_glove
from ga_squad.reader.squad import SquadExample, SquadReadResult, read_squad, split_by_article
from ga_squad.reader.tokenize import Tokens, answer_token_span, tokenize
from ga_squad.reader.vocab import Vocab, build_char_vocab, build_word_vocab

__all__ = ["FORMAT_VERSION", "DataConfig", "Dataset", "build_dataset", "encode_examples"]

logger = logging.getLogger(__name__)

# Bump whenever tokenisation or the array layout changes: old caches then miss.
# 2: validation split carved from train; dev keeps questions without a located span.
# 3: per-token feature arrays (reader/features.py).
FORMAT_VERSION = 3


@dataclass(frozen=True)
class DataConfig:
    """Everything that determines the preprocessed arrays.

    Attributes:
        train_path: SQuAD v1.1 training file (the vocabulary comes from its
            training part, i.e. without the validation articles).
        dev_path: SQuAD v1.1 dev file (scored with the official metric).
        glove_path: GloVe text file, or None for no pre-trained embeddings.
        max_passage_len: Passages are cut to this many tokens; training
            questions whose answer is cut away are dropped.
        max_question_len: Questions are cut to this many tokens.
        max_word_len: Characters kept per token for the char arrays.
        min_word_count: Words seen fewer times in train map to UNK.
        max_vocab: Cap on the word-vocabulary size (PAD and UNK included).
        train_limit: Use only the first N training questions (tests, CI),
            counted after the validation articles are taken out.
        dev_limit: Use only the first N dev questions (after ``dev_skip``).
        dev_skip: Leave out the first N dev questions. The evaluation
            protocol (docs/protocol.md) reports the shared data on dev
            questions 2,001-6,000 (``dev_skip`` 2000, ``dev_limit`` 4000):
            the first 2,000 have steered hand decisions.
        seed: Seed for the random rows of the embedding matrix.
        val_fraction: Share of the training file's questions held out as the
            validation split, by whole articles (0 holds out nothing); early
            stopping and the search's fitness use it, so the dev set stays
            unseen until the final score.
        val_seed: Seed of the article shuffle that picks the validation articles.
        val_limit: Use only the first N validation questions.
    """

    train_path: str
    dev_path: str
    glove_path: str | None = None
    max_passage_len: int = 400
    max_question_len: int = 50
    max_word_len: int = 16
    min_word_count: int = 1
    max_vocab: int | None = None
    train_limit: int | None = None
    dev_limit: int | None = None
    dev_skip: int = 0
    seed: int = 0
    val_fraction: float = 0.05
    val_seed: int = 0
    val_limit: int | None = None

    def __post_init__(self) -> None:
        for name in ("max_passage_len", "max_question_len", "max_word_len", "min_word_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"DataConfig.{name} must be >= 1, got {getattr(self, name)}")
        if not 0.0 <= self.val_fraction < 1.0:
            raise ValueError(f"DataConfig.val_fraction must be in [0, 1), got {self.val_fraction}")
        for name in ("train_limit", "dev_limit", "val_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"DataConfig.{name} must be None or >= 1, got {value}")
        if self.dev_skip < 0:
            raise ValueError(f"DataConfig.dev_skip must be >= 0, got {self.dev_skip}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        """Build from a dict, rejecting unknown keys (typos fail loudly)."""
        return config_from_dict(cls, d)


@dataclass(frozen=True, eq=False)
class Dataset:
    """Everything a trial needs from the data side.

    Attributes:
        config: The settings it was built with.
        train: Training split (without the validation articles).
        dev: Dev split (every question, scored on all reference answers).
        word_vocab: Lowercased word vocabulary from train.
        char_vocab: Character vocabulary from train.
        embeddings: ``float32 [len(word_vocab), dim]`` initial word vectors
            (GloVe where covered), or None without a GloVe file.
        coverage: GloVe coverage of the vocabulary, or None.
        cache_path: The cache file used, or None when not caching.
        from_cache: Whether the arrays were read from the cache.
    """

    config: DataConfig
    train: SquadArrays
    dev: SquadArrays
    word_vocab: Vocab
    char_vocab: Vocab
    embeddings: np.ndarray | None
    coverage: GloveCoverage | None
    cache_path: str | None = None
    from_cache: bool = False
    val: SquadArrays | None = None

    def __post_init__(self) -> None:
        if self.val is None:  # no validation split: an empty one, so callers need no None checks
            object.__setattr__(self, "val", _build_split(
                SquadReadResult(self.config.train_path, (), 0, 0, 0), ({}, []), None, self.config,
                is_train=False))


# --------------------------------------------------------------- building


def _tokenize_split(examples: Sequence[SquadExample]) -> tuple[dict[str, Tokens], list[Tokens]]:
    """Tokenise each distinct passage once and every question."""
    passages: dict[str, Tokens] = {}
    for ex in examples:
        if ex.context not in passages:
            passages[ex.context] = tokenize(ex.context)
    return passages, [tokenize(ex.question) for ex in examples]


class _Encoder:
    """Word and char ids of token lists, memoising per token string."""

    def __init__(self, words: Vocab, chars: Vocab, max_word_len: int) -> None:
        self._words, self._chars, self._w = words, chars, max_word_len
        self._char_rows: dict[str, np.ndarray] = {}

    def words(self, tokens: Sequence[str]) -> np.ndarray:
        return np.asarray(self._words.ids(tokens), dtype=np.int32)

    def chars(self, tokens: Sequence[str]) -> np.ndarray:
        out = np.zeros((len(tokens), self._w), dtype=np.int32)
        for i, tok in enumerate(tokens):
            row = self._char_rows.get(tok)
            if row is None:
                ids = self._chars.ids(tok[: self._w])
                row = self._char_rows[tok] = np.asarray(ids, dtype=np.int32)
            out[i, : len(row)] = row
        return out


def _choose_span(
    ex: SquadExample, tokens: Tokens, max_len: int
) -> tuple[tuple[int, int] | None, str, bool]:
    """First reference answer that maps onto kept tokens.

    Returns:
        ``(span or None, reason, exact)`` where reason is ``"unaligned"`` or
        ``"truncated"`` when no answer fits, and ``exact`` says whether the
        span's text equals the answer.
    """
    reason = "unaligned"
    for text, start in zip(ex.answers, ex.answer_starts):
        span = answer_token_span(tokens.spans, start, text)
        if span is None:
            continue
        if span[1] >= max_len:
            reason = "truncated"
            continue
        covered = ex.context[tokens.spans[span[0]][0]:tokens.spans[span[1]][1]]
        return span, "", covered == text.strip()
    return None, reason, False


def _build_split(
    read: SquadReadResult,
    tokenized: tuple[Mapping[str, Tokens], Sequence[Tokens]],
    enc: _Encoder,
    cfg: DataConfig,
    *,
    is_train: bool,
) -> SquadArrays:
    """Arrays for one split; training rows without a usable span are dropped."""
    examples = read.examples
    passages, questions = tokenized
    lp_max, lq_max = cfg.max_passage_len, cfg.max_question_len
    ctx_ids: dict[str, int] = {}
    ctx_rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    ctx_words: list[tuple[str, ...]] = []
    rows: list[tuple[int, int, Tokens, tuple[int, int]]] = []
    unaligned = truncated = no_span = inexact = 0
    for i, ex in enumerate(examples):
        toks = passages[ex.context]
        span, reason, exact = _choose_span(ex, toks, lp_max)
        if span is None:
            if is_train:
                unaligned += reason == "unaligned"
                truncated += reason == "truncated"
                continue
            no_span += 1
            span = (0, 0)
        else:
            inexact += not exact
        if ex.context not in ctx_ids:
            ctx_ids[ex.context] = len(ctx_rows)
            words = toks.words[:lp_max]
            ctx_words.append(tuple(words))
            ctx_rows.append((enc.words(words), enc.chars(words),
                             np.asarray(toks.spans[:lp_max], dtype=np.int32).reshape(-1, 2)))
        rows.append((i, ctx_ids[ex.context], questions[i], span))

    n, w = len(rows), cfg.max_word_len
    lp = max([1, *(len(ctx_rows[c][0]) for _, c, _, _ in rows)])
    lq = max([1, *(min(len(q), lq_max) for _, _, q, _ in rows)])
    arr = {
        "question_words": np.zeros((n, lq), np.int32),
        "question_chars": np.zeros((n, lq, w), np.int32),
        "passage_words": np.zeros((n, lp), np.int32),
        "passage_chars": np.zeros((n, lp, w), np.int32),
        "passage_spans": np.zeros((n, lp, 2), np.int32),
        "begin": np.zeros(n, np.int32),
        "end": np.zeros(n, np.int32),
        "context_index": np.zeros(n, np.int32),
        "passage_features": np.zeros((n, lp, len(FEATURE_COLUMNS)), np.float32),
        "question_features": np.zeros((n, lq, len(FEATURE_COLUMNS)), np.float32),
    }
    featurizer = TokenFeaturizer()
    for r, (_, c, q, span) in enumerate(rows):
        pw, pc, ps = ctx_rows[c]
        arr["passage_words"][r, : len(pw)] = pw
        arr["passage_chars"][r, : len(pw)] = pc
        arr["passage_spans"][r, : len(pw)] = ps
        qw = q.words[:lq_max]
        arr["question_words"][r, : len(qw)] = enc.words(qw)
        arr["question_chars"][r, : len(qw)] = enc.chars(qw)
        arr["begin"][r], arr["end"][r] = span
        arr["context_index"][r] = c
        arr["passage_features"][r, : len(pw)] = featurizer.rows(ctx_words[c], qw)
        arr["question_features"][r, : len(qw)] = featurizer.rows(qw, ctx_words[c])
    kept = [examples[i] for i, _, _, _ in rows]
    stats = SplitStats(read.questions_seen, n, read.bad_answers, read.skipped_questions,
                       unaligned, truncated, no_span, inexact)
    if unaligned or truncated:
        logger.warning("train: dropped %d question(s) whose answer maps to no token and %d "
                       "whose answer lies beyond %d tokens", unaligned, truncated, lp_max)
    if no_span:
        logger.warning("dev: %d question(s) have no reference answer within the first %d "
                       "tokens (begin = end = 0; still scored on text)", no_span, lp_max)
    return SquadArrays(
        **arr,
        contexts=tuple(ctx_ids),
        qids=tuple(ex.qid for ex in kept),
        answers=tuple(ex.gold_answers for ex in kept),
        stats=stats,
    )


def build_dataset(cfg: DataConfig) -> Dataset:
    """Read, tokenise and encode the training, validation and dev splits (no caching).

    Args:
        cfg: Data settings.

    Returns:
        The dataset; the vocabularies and embedding matrix come from the
        training split only (not the validation articles, which stand in
        for unseen text as dev does).
    """
    train_read, val_read = split_by_article(read_squad(cfg.train_path), cfg.val_fraction, cfg.val_seed)
    train_read = _limited(train_read, cfg.train_limit)
    val_read = _limited(val_read, cfg.val_limit)
    dev_read = read_squad(cfg.dev_path)
    dev_end = None if cfg.dev_limit is None else cfg.dev_skip + cfg.dev_limit
    dev_read = replace(dev_read, examples=dev_read.examples[cfg.dev_skip:dev_end])
    train_tok = _tokenize_split(train_read.examples)
    train_text = [t.words for t in train_tok[0].values()] + [q.words for q in train_tok[1]]
    word_vocab = build_word_vocab(train_text, min_count=cfg.min_word_count, max_size=cfg.max_vocab)
    char_vocab = build_char_vocab(train_text)
    enc = _Encoder(word_vocab, char_vocab, cfg.max_word_len)
    train = _build_split(train_read, train_tok, enc, cfg, is_train=True)
    val = _build_split(val_read, _tokenize_split(val_read.examples), enc, cfg, is_train=False)
    dev = _build_split(dev_read, _tokenize_split(dev_read.examples), enc, cfg, is_train=False)

    embeddings = coverage = None
    if cfg.glove_path is not None:
        glove = read_glove(cfg.glove_path, keep=set(word_vocab.tokens))
        counts = Counter(w.lower() for words in train_text for w in words)
        embeddings, coverage = build_embedding_matrix(
            word_vocab, glove, seed=cfg.seed, token_counts=counts)
    logger.info("built SQuAD arrays: %d train rows, %d validation rows, %d dev rows, %d words, %d chars",
                len(train), len(val), len(dev), len(word_vocab), len(char_vocab))
    return Dataset(cfg, train, dev, word_vocab, char_vocab, embeddings, coverage, val=val)


def _limited(read: SquadReadResult, limit: int | None) -> SquadReadResult:
    return read if limit is None else replace(read, examples=read.examples[:limit])



def encode_examples(
    examples: Sequence[SquadExample], word_vocab: Vocab, char_vocab: Vocab, cfg: DataConfig
) -> SquadArrays:
    """Arrays of new questions with a trained reader's vocabularies (inference).

    The very tokenisation, truncation and encoding of a trial's dev split, so a
    reader sees new text exactly as it saw its dev questions. Examples may
    have no reference answer (their ``begin``/``end`` stay 0).
    """
    read = SquadReadResult("<examples>", tuple(examples), len(examples), 0, 0)
    enc = _Encoder(word_vocab, char_vocab, cfg.max_word_len)
    return _build_split(read, _tokenize_split(read.examples), enc, cfg, is_train=False)

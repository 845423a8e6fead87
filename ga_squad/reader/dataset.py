"""Turn SQuAD files into padded id arrays, cached on disk, and batch them.

Every trial of the architecture search trains on the same data, and many run
at once. Tokenising SQuAD takes seconds to minutes, so the finished arrays are
cached in one ``.npz`` file whose name is a hash of the input files' *content*
and of every setting that changes the arrays. The cache write is atomic
(temporary file in the same folder, fsync, ``os.replace``): two trials that
race both compute, one rename wins, and no reader ever opens a half-written
file. A damaged cache file is reported and rebuilt rather than trusted.

Conventions that the model code relies on:

* id 0 is padding in every id array, so ``mask = ids != 0``;
* ``begin``/``end`` are inclusive token indices into the passage;
* batches from :func:`iterate_batches` have exactly the keys
  ``question_words, question_chars, passage_words, passage_chars, begin,
  end`` plus ``index`` (rows into the split, to recover qid and text).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import nltk
import numpy as np

from ga_squad.files import atomic_write, file_digest
from ga_squad.reader.evaluation import spans_to_texts
from ga_squad.reader.glove import GloveCoverage, build_embedding_matrix, read_glove
from ga_squad.reader.squad import SquadExample, SquadReadResult, read_squad
from ga_squad.reader.tokenize import Tokens, answer_token_span, tokenize
from ga_squad.reader.vocab import Vocab, build_char_vocab, build_word_vocab

__all__ = [
    "BATCH_KEYS",
    "FORMAT_VERSION",
    "DataConfig",
    "Dataset",
    "SplitStats",
    "SquadArrays",
    "build_dataset",
    "cache_key",
    "iterate_batches",
    "load_dataset",
    "num_batches",
]

logger = logging.getLogger(__name__)

# Bump whenever tokenisation or the array layout changes: old caches then miss.
FORMAT_VERSION = 1
BATCH_KEYS = ("question_words", "question_chars", "passage_words", "passage_chars", "begin", "end")
_ARRAY_FIELDS = (*BATCH_KEYS, "passage_spans", "context_index")


@dataclass(frozen=True)
class DataConfig:
    """Everything that determines the preprocessed arrays.

    Attributes:
        train_path: SQuAD v1.1 training file (the vocabulary comes from it).
        dev_path: SQuAD v1.1 dev file (scored with the official metric).
        glove_path: GloVe text file, or None for no pre-trained embeddings.
        max_passage_len: Passages are cut to this many tokens; training
            questions whose answer is cut away are dropped.
        max_question_len: Questions are cut to this many tokens.
        max_word_len: Characters kept per token for the char arrays.
        min_word_count: Words seen fewer times in train map to UNK.
        max_vocab: Cap on the word-vocabulary size (PAD and UNK included).
        train_limit: Use only the first N training questions (tests, CI).
        dev_limit: Use only the first N dev questions.
        seed: Seed for the random rows of the embedding matrix.
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
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("max_passage_len", "max_question_len", "max_word_len", "min_word_count"):
            if getattr(self, name) < 1:
                raise ValueError(f"DataConfig.{name} must be >= 1, got {getattr(self, name)}")
        for name in ("train_limit", "dev_limit"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(f"DataConfig.{name} must be None or >= 1, got {value}")

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; inverse of :meth:`from_dict`."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> DataConfig:
        """Build from a dict, rejecting unknown keys (typos fail loudly)."""
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown DataConfig keys: {sorted(unknown)}")
        return cls(**d)


@dataclass(frozen=True)
class SplitStats:
    """What happened to the questions of one split.

    Attributes:
        questions: Questions in the file.
        examples: Rows in the arrays.
        bad_answers: Answers skipped because their text is not at answer_start.
        skipped_questions: Questions with no valid answer left.
        dropped_unaligned: Training questions whose answer maps to no token.
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

    def __post_init__(self) -> None:
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


@dataclass(frozen=True, eq=False)
class Dataset:
    """Everything a trial needs from the data side.

    Attributes:
        config: The settings it was built with.
        train: Training split.
        dev: Dev split (scored on all reference answers).
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
    }
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
        answers=tuple(ex.answers for ex in kept),
        stats=stats,
    )


def build_dataset(cfg: DataConfig) -> Dataset:
    """Read, tokenise and encode both splits (no caching).

    Args:
        cfg: Data settings.

    Returns:
        The dataset; the vocabularies and embedding matrix come from the
        training split only.
    """
    train_read = read_squad(cfg.train_path, limit=cfg.train_limit)
    dev_read = read_squad(cfg.dev_path, limit=cfg.dev_limit)
    train_tok = _tokenize_split(train_read.examples)
    train_text = [t.words for t in train_tok[0].values()] + [q.words for q in train_tok[1]]
    word_vocab = build_word_vocab(train_text, min_count=cfg.min_word_count, max_size=cfg.max_vocab)
    char_vocab = build_char_vocab(train_text)
    enc = _Encoder(word_vocab, char_vocab, cfg.max_word_len)
    train = _build_split(train_read, train_tok, enc, cfg, is_train=True)
    dev = _build_split(dev_read, _tokenize_split(dev_read.examples), enc, cfg, is_train=False)

    embeddings = coverage = None
    if cfg.glove_path is not None:
        glove = read_glove(cfg.glove_path, keep=set(word_vocab.tokens))
        counts = Counter(w.lower() for words in train_text for w in words)
        embeddings, coverage = build_embedding_matrix(
            word_vocab, glove, seed=cfg.seed, token_counts=counts)
    logger.info("built SQuAD arrays: %d train rows, %d dev rows, %d words, %d chars",
                len(train), len(dev), len(word_vocab), len(char_vocab))
    return Dataset(cfg, train, dev, word_vocab, char_vocab, embeddings, coverage)


# ------------------------------------------------------------------ cache


def cache_key(cfg: DataConfig) -> str:
    """Hash of the input files' content, the settings and the format version.

    Paths are deliberately not part of the key: the same files anywhere hit
    the same cache entry, while an edited file misses it.
    """
    settings = {k: v for k, v in cfg.to_dict().items() if not k.endswith("_path")}
    blob = {
        "format": FORMAT_VERSION,
        "nltk": nltk.__version__,
        "train": file_digest(cfg.train_path),
        "dev": file_digest(cfg.dev_path),
        "glove": None if cfg.glove_path is None else file_digest(cfg.glove_path),
        "settings": settings,
    }
    return hashlib.sha256(json.dumps(blob, sort_keys=True).encode()).hexdigest()


def _cache_file(cache_dir: str | os.PathLike[str], key: str) -> Path:
    """The one place that knows where a cache entry lives."""
    return Path(cache_dir) / f"squad-v{FORMAT_VERSION}-{key[:32]}.npz"


def _split_meta(s: SquadArrays) -> dict[str, Any]:
    return {"contexts": list(s.contexts), "qids": list(s.qids),
            "answers": [list(a) for a in s.answers], "stats": asdict(s.stats)}


def _write_cache(path: Path, key: str, ds: Dataset) -> None:
    meta = {
        "format": FORMAT_VERSION,
        "key": key,
        "word_vocab": ds.word_vocab.to_dict(),
        "char_vocab": ds.char_vocab.to_dict(),
        "coverage": None if ds.coverage is None else asdict(ds.coverage),
        "train": _split_meta(ds.train),
        "dev": _split_meta(ds.dev),
    }
    payload: dict[str, np.ndarray] = {
        "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    }
    for name, split in (("train", ds.train), ("dev", ds.dev)):
        for f in _ARRAY_FIELDS:
            payload[f"{name}/{f}"] = getattr(split, f)
    if ds.embeddings is not None:
        payload["embeddings"] = ds.embeddings
    with atomic_write(path) as f:
        np.savez_compressed(f, **payload)


def _read_cache(path: Path, key: str, cfg: DataConfig) -> Dataset:
    """Load a cache file; any inconsistency raises (the caller rebuilds)."""
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(z["meta"].tobytes().decode("utf-8"))
        if meta.get("format") != FORMAT_VERSION or meta.get("key") != key:
            raise ValueError("cache key or format version does not match")
        splits = {}
        for name in ("train", "dev"):
            m = meta[name]
            splits[name] = SquadArrays(
                **{f: z[f"{name}/{f}"] for f in _ARRAY_FIELDS},
                contexts=tuple(m["contexts"]),
                qids=tuple(m["qids"]),
                answers=tuple(tuple(a) for a in m["answers"]),
                stats=SplitStats(**m["stats"]),
            )
        embeddings = z["embeddings"] if "embeddings" in z.files else None
    word_vocab = Vocab.from_dict(meta["word_vocab"])
    if embeddings is not None and embeddings.shape[0] != len(word_vocab):
        raise ValueError("embedding rows do not match the vocabulary")
    if (embeddings is None) != (cfg.glove_path is None):
        raise ValueError("cache and config disagree about GloVe")
    coverage = None if meta["coverage"] is None else GloveCoverage(**meta["coverage"])
    return Dataset(cfg, splits["train"], splits["dev"], word_vocab,
                   Vocab.from_dict(meta["char_vocab"]), embeddings, coverage,
                   cache_path=str(path), from_cache=True)


def load_dataset(cfg: DataConfig, cache_dir: str | os.PathLike[str] | None = None) -> Dataset:
    """Preprocessed dataset, from the cache when possible.

    Args:
        cfg: Data settings.
        cache_dir: Folder for cache files, shared by all trials; None means
            build without caching.

    Returns:
        The dataset. On a miss (or a corrupt cache file, which is warned
        about) it is built and written atomically; when several processes
        race, each builds, one file wins, and all results are identical.
    """
    if cache_dir is None:
        return build_dataset(cfg)
    key = cache_key(cfg)
    path = _cache_file(cache_dir, key)
    if path.exists():
        try:
            ds = _read_cache(path, key, cfg)
            logger.info("loaded SQuAD arrays from cache %s", path)
            return ds
        except Exception as e:  # noqa: BLE001 - any damage means "rebuild"
            logger.warning("cache file %s is unreadable or corrupt (%s: %s); rebuilding",
                           path, type(e).__name__, e)
    ds = build_dataset(cfg)
    _write_cache(path, key, ds)
    logger.info("wrote SQuAD array cache %s", path)
    return Dataset(ds.config, ds.train, ds.dev, ds.word_vocab, ds.char_vocab,
                   ds.embeddings, ds.coverage, cache_path=str(path), from_cache=False)


# --------------------------------------------------------------- batching


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
            "begin": arrays.begin[idx],
            "end": arrays.end[idx],
            "index": idx.astype(np.int64),
        }

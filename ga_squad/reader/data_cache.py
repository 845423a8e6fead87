"""The on-disk cache of preprocessed datasets, shared by every trial of a search.

Every trial of the architecture search trains on the same data, and many run
at once. Tokenising SQuAD takes seconds to minutes, so the finished arrays are
cached in one ``.npz`` file whose name is a hash of the input files' *content*
and of every setting that changes the arrays. The cache write is atomic
(:func:`ga_squad.files.atomic_write`): two trials that race both compute, one
rename wins, and no reader ever opens a half-written file. A damaged cache
file is reported and rebuilt rather than trusted.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import Any

import nltk
import numpy as np

from ga_squad.files import atomic_write, file_digest
from ga_squad.reader.arrays import ARRAY_FIELDS, SplitStats, SquadArrays
from ga_squad.reader.dataset import FORMAT_VERSION, DataConfig, Dataset, build_dataset
from ga_squad.reader.glove import GloveCoverage
from ga_squad.reader.input_error import require_file
from ga_squad.reader.vocab import Vocab

__all__ = ["cache_key", "load_dataset"]

logger = logging.getLogger(__name__)

_SPLITS = ("train", "val", "dev")


def cache_key(cfg: DataConfig) -> str:
    """Hash of the input files' content, the settings and the format version.

    Paths are deliberately not part of the key: the same files anywhere hit
    the same cache entry, while an edited file misses it. Every other
    :class:`DataConfig` field is, the validation split's (``val_fraction``,
    ``val_seed``, ``val_limit``) included.
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
        **{name: _split_meta(getattr(ds, name)) for name in _SPLITS},
    }
    payload: dict[str, np.ndarray] = {
        "meta": np.frombuffer(json.dumps(meta, ensure_ascii=False).encode("utf-8"), dtype=np.uint8)
    }
    for name in _SPLITS:
        for f in ARRAY_FIELDS:
            payload[f"{name}/{f}"] = getattr(getattr(ds, name), f)
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
        for name in _SPLITS:
            m = meta[name]
            splits[name] = SquadArrays(
                **{f: z[f"{name}/{f}"] for f in ARRAY_FIELDS},
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
                   cache_path=str(path), from_cache=True, val=splits["val"])


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

    Raises:
        InputError: naming the file, if an input file is missing, unreadable,
            empty or malformed (:mod:`ga_squad.reader.input_error`).
    """
    if cache_dir is None:
        return build_dataset(cfg)
    for what, path in (("SQuAD file", cfg.train_path), ("SQuAD file", cfg.dev_path), ("GloVe file", cfg.glove_path)):
        if path is not None:
            require_file(path, what)  # the cache key digests them: say which one is missing, not a bare errno
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
                   ds.embeddings, ds.coverage, cache_path=str(path), from_cache=False, val=ds.val)

"""What a checkpoint needs besides its weights to read new text: vocabularies and tokenizer settings.

A checkpoint's weights only mean something with the vocabularies that
numbered its embedding rows and with the tokenizer settings (truncation
lengths, lower-casing) that shaped its inputs. Rebuilding them from the
training file and GloVe works only where those files are, at the paths the
trial saw. So every trial also publishes its :class:`ReaderAssets`:

* the word and character vocabularies go into one JSON file stored **once per
  experiment** under ``<experiment folder>/shared/`` and named by the sha256
  of its bytes (:func:`store_assets`; written atomically, so trials racing
  to store the same vocabulary are harmless). The manifest's
  :data:`ASSETS_KEY` entry names the file *relative to the checkpoint
  directory* (the convention of the embedding store), records its sha256 and
  the tokenizer settings, so it resolves from any working directory and the
  whole storage root may move;
* the manifest's ``data_config`` records absolute data paths
  (:func:`portable_data_config`), so ``report`` re-scores a checkpoint from
  any working directory.

This module imports no TensorFlow.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nltk

from ga_squad.files import write_content_addressed
from ga_squad.reader.dataset import DataConfig
from ga_squad.reader.vocab import Vocab
from ga_squad.search.graph import canonical_hash
from ga_squad.store.checkpoint_store import pointer
from ga_squad.store.paths import shared_dir_for

__all__ = [
    "ASSETS_FORMAT",
    "ASSETS_KEY",
    "AssetsError",
    "ReaderAssets",
    "TokenizerSettings",
    "load_assets",
    "manifest_fields",
    "portable_data_config",
    "store_assets",
    "vocab_bytes",
    "vocab_fingerprint",
]

logger = logging.getLogger(__name__)

ASSETS_KEY = "reader_assets"  # manifest field referencing the stored vocabularies
ASSETS_FORMAT = 1
TOKENIZER = "nltk-treebank+glued-split"  # ga_squad.reader.tokenize; bump if tokenisation changes
_PATH_FIELDS = ("train_path", "dev_path", "glove_path")


class AssetsError(RuntimeError):
    """Stored reader assets are missing, damaged or do not fit their checkpoint."""


def vocab_fingerprint(word_vocab: Vocab, char_vocab: Vocab, glove_dim: int | None) -> str:
    """Hash of the vocabularies (the checkpoint's ``data_fingerprint``).

    Equal fingerprints: embedding rows mean the same tokens.
    """
    return canonical_hash({"words": list(word_vocab.tokens), "chars": list(char_vocab.tokens),
                           "glove_dim": glove_dim})


@dataclass(frozen=True)
class TokenizerSettings:
    """How raw text became the arrays a reader was trained on.

    Attributes:
        max_passage_len: Passages are cut to this many tokens.
        max_question_len: Questions are cut to this many tokens.
        max_word_len: Characters kept per token.
        tokenizer: Name of the tokenisation scheme (:data:`TOKENIZER`).
        nltk_version: NLTK version the tokens came from.
    """

    max_passage_len: int
    max_question_len: int
    max_word_len: int
    tokenizer: str = TOKENIZER
    nltk_version: str = nltk.__version__

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> TokenizerSettings:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @classmethod
    def of(cls, data_config: Any) -> TokenizerSettings:
        """The settings of a :class:`~ga_squad.reader.dataset.DataConfig`."""
        return cls(data_config.max_passage_len, data_config.max_question_len, data_config.max_word_len)


@dataclass(frozen=True)
class ReaderAssets:
    """Everything besides the weights that turns raw text into a reader's inputs.

    Attributes:
        word_vocab: Lower-cased word vocabulary (``lowercase`` is stored on it).
        char_vocab: Case-sensitive character vocabulary.
        tokenizer: Truncation lengths and the tokenisation scheme.
    """

    word_vocab: Vocab
    char_vocab: Vocab
    tokenizer: TokenizerSettings

    def data_config(self) -> DataConfig:
        """A :class:`~ga_squad.reader.dataset.DataConfig` carrying these settings (paths unused)."""
        t = self.tokenizer
        return DataConfig("<none>", "<none>", max_passage_len=t.max_passage_len,
                          max_question_len=t.max_question_len, max_word_len=t.max_word_len)


def vocab_bytes(word_vocab: Vocab, char_vocab: Vocab) -> bytes:
    """Canonical bytes of the vocabulary file: equal vocabularies, equal bytes, equal name."""
    doc = {"format": ASSETS_FORMAT, "word_vocab": word_vocab.to_dict(), "char_vocab": char_vocab.to_dict()}
    return json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode("utf-8")


def store_assets(store: str | os.PathLike[str], word_vocab: Vocab, char_vocab: Vocab) -> tuple[Path, str]:
    """Store the vocabularies once under ``store``, named by content.

    Returns:
        ``(file, sha256 of its bytes)``. An existing file of that name is kept
        when its bytes still match (every trial of a search stores the same
        vocabulary); a damaged one is rewritten.
    """
    data = vocab_bytes(word_vocab, char_vocab)
    sha = hashlib.sha256(data).hexdigest()
    path = Path(store) / f"vocab-{sha[:32]}.json"
    if write_content_addressed(path, data, sha):
        logger.info("stored vocabularies (%d words, %d chars) at %s", len(word_vocab), len(char_vocab), path)
    return path, sha


def portable_data_config(data_config: Any) -> dict[str, Any]:
    """``DataConfig.to_dict()`` with absolute data paths (they resolve from any working directory)."""
    d = data_config.to_dict()
    for key in _PATH_FIELDS:
        if d.get(key) is not None:
            d[key] = str(Path(d[key]).resolve())
    return d


def manifest_fields(data: Any, save_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """Manifest fields that make a checkpoint self-contained (stores the vocabularies).

    Args:
        data: The trial's :class:`~ga_squad.reader.dataset.Dataset`.
        save_dir: The individual's folder (its checkpoint is ``save_dir/checkpoint``).

    Returns:
        ``{"data_config": ..., ASSETS_KEY: ...}`` for ``publish_checkpoint(extra=...)``;
        without :data:`ASSETS_KEY` (and a warning) if the store cannot be written.
    """
    fields: dict[str, Any] = {"data_config": portable_data_config(data.config)}
    try:
        path, sha = store_assets(shared_dir_for(save_dir), data.word_vocab, data.char_vocab)
    except OSError as exc:  # the trial's result matters more; the checkpoint still loads from its data
        logger.warning("vocabularies not stored (%s); the checkpoint will need its training data to load", exc)
        return fields
    where = pointer(Path(save_dir).resolve())  # the checkpoint directory (checkpoint.checkpoint_dir)
    return {
        **fields,
        ASSETS_KEY: {
            "format": ASSETS_FORMAT,
            "vocab_file": os.path.relpath(path.resolve(), where),
            "vocab_sha256": sha,
            "tokenizer": TokenizerSettings.of(data.config).to_dict(),
        },
    }


def load_assets(checkpoint: str | os.PathLike[str], manifest: Mapping[str, Any]) -> ReaderAssets | None:
    """The reader assets a manifest references, or None when its trial could not store them.

    Args:
        checkpoint: The checkpoint directory (``<save_dir>/checkpoint``);
            the reference is relative to it.
        manifest: Its manifest.

    Raises:
        AssetsError: if the referenced file is missing, damaged or does not
            match the checkpoint's ``data_fingerprint``.
    """
    ref = manifest.get(ASSETS_KEY)
    if not ref:
        return None
    path = Path(checkpoint) / ref["vocab_file"]
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise AssetsError(f"vocabulary file {path} of checkpoint {checkpoint} is unreadable: "
                          f"{exc.strerror or exc}") from None
    if hashlib.sha256(data).hexdigest() != ref["vocab_sha256"]:
        raise AssetsError(f"vocabulary file {path} does not match the checksum in {checkpoint}'s manifest")
    doc = json.loads(data.decode("utf-8"))
    assets = ReaderAssets(Vocab.from_dict(doc["word_vocab"]), Vocab.from_dict(doc["char_vocab"]),
                          TokenizerSettings.from_dict(ref["tokenizer"]))
    if assets.tokenizer.tokenizer != TOKENIZER or assets.tokenizer.nltk_version != nltk.__version__:
        logger.warning("checkpoint %s was tokenised with %s (NLTK %s), this is %s (NLTK %s): "
                       "answers may differ slightly", checkpoint, assets.tokenizer.tokenizer,
                       assets.tokenizer.nltk_version, TOKENIZER, nltk.__version__)
    return assets

"""Load a trained reader from what a search leaves behind, ready to answer new questions.

:func:`locate` (and :func:`ga_squad.reader.loader.load_reader` through it) accepts

* a **search folder** (holding ``lineage.jsonl``) or a storage root holding
  experiment folders (the latest journal, or ``experiment``): it takes the
  search's best individual, :func:`ga_squad.store.best.best_individual` (best
  by the fitness and direction the journal records, among those whose
  checkpoint is published; the one ``report``, the notebook and ``run`` name),
  from the folder given (a copied or moved search reads its own checkpoints);
* an **individual folder** (holding ``checkpoint/manifest.json``) or its
  ``checkpoint`` folder;
* an **export folder** (holding :data:`EXPORT_MODEL` and :data:`EXPORT_META`)
  or its ``.keras`` file.

What comes back is a :class:`Reader`: the vocabularies and tokenizer
settings (:class:`~ga_squad.reader.assets.ReaderAssets`), the decoding
settings, and one function from input arrays to span logits. Nothing in
:mod:`ga_squad.reader.inference` depends on where that function comes from,
so an exported standalone model (a folder holding :data:`EXPORT_MODEL`, written
by :mod:`ga_squad.reader.export`) plugs in as one more loader that returns a
:class:`Reader`.

A checkpoint whose trial could not store its vocabularies (an unwritable
``shared/``, :func:`~ga_squad.reader.assets.manifest_fields`) is loaded by
rebuilding them from the training data its manifest records, as ``report``
does.
"""

from __future__ import annotations

import enum
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ga_squad.reader.assets import ReaderAssets, TokenizerSettings, load_assets, vocab_fingerprint
from ga_squad.reader.checkpoint import CHECKPOINT_NAME, MANIFEST_NAME, CheckpointError, checkpoint_dir, read_manifest
from ga_squad.reader.config import ModelConfig, TrainConfig
from ga_squad.reader.data_cache import load_dataset
from ga_squad.reader.dataset import DataConfig
from ga_squad.reader.model import build_model, weights_by_hash
from ga_squad.reader.training import data_fingerprint
from ga_squad.reader.warm_start import load_shared
from ga_squad.search.graph import Graph
from ga_squad.store.best import FitnessUnknown, NoBestIndividual, best_individual
from ga_squad.store.paths import JOURNAL_NAME

__all__ = [
    "EXPORT_MODEL",
    "EXPORT_META",
    "LoadedCheckpoint",
    "LogitsFn",
    "Reader",
    "ReaderNotFound",
    "Source",
    "SourceKind",
    "load_checkpoint",
    "locate",
    "logits_fn",
    "restore_model",
]

logger = logging.getLogger(__name__)

EXPORT_MODEL = "reader.keras"  # what ``python -m ga_squad export`` writes (ga_squad.reader.export)
EXPORT_META = "reader.json"

LogitsFn = Callable[[Mapping[str, np.ndarray]], tuple[np.ndarray, np.ndarray]]


class ReaderNotFound(LookupError):
    """The path holds no reader: no search, no published checkpoint, or nothing reported yet."""


class SourceKind(enum.Enum):
    SEARCH = "search"
    INDIVIDUAL = "individual"
    EXPORT = "export"


@dataclass(frozen=True)
class Source:
    """Where a reader was found.

    Attributes:
        kind: What the user pointed at.
        path: The individual's folder (its ``save_dir``), or the export folder.
        search_dir: The search folder, when known.
    """

    kind: SourceKind
    path: Path
    search_dir: Path | None = None


@dataclass(frozen=True)
class Reader:
    """A trained reader that answers questions.

    Attributes:
        assets: Vocabularies and tokenizer settings.
        logits: ``inputs -> (begin_logits [B, Lp], end_logits [B, Lp])``; the
            inputs are the batch arrays named in ``input_keys``.
        input_keys: Array names the model reads.
        max_answer_len: Longest answer span, in tokens (as in the trial's scoring).
        batch_size: Questions per forward pass (the trial's evaluation batch).
        source: Where it came from.
        indiv_id: The individual, or None.
        metrics: What its trial reported (F1, EM...).
    """

    assets: ReaderAssets
    logits: LogitsFn
    input_keys: tuple[str, ...]
    max_answer_len: int
    batch_size: int
    source: Source
    indiv_id: int | None = None
    metrics: Mapping[str, Any] | None = None


# --- finding the checkpoint -------------------------------------------------------
def _has_checkpoint(path: Path) -> bool:
    return (checkpoint_dir(path) / MANIFEST_NAME).is_file()


def _search_dir(path: Path, experiment: str | None) -> Path | None:
    """The search folder ``path`` names (itself, or the chosen/latest one under a storage root)."""
    if experiment is not None:
        for candidate in (path / experiment, path):
            if (candidate / JOURNAL_NAME).is_file() and candidate.name == experiment:
                return candidate
        raise ReaderNotFound(f"no search {experiment!r} under {path} (no {experiment}/{JOURNAL_NAME}); "
                             f"check the experiment id")
    if (path / JOURNAL_NAME).is_file():
        return path
    found = [p for p in path.iterdir() if p.is_dir() and (p / JOURNAL_NAME).is_file()]
    return max(found, key=lambda p: ((p / JOURNAL_NAME).stat().st_mtime, p.name)) if found else None


def locate(path: str | os.PathLike[str], experiment: str | None = None) -> Source:
    """What ``path`` holds: an export, an individual's checkpoint, or a search (its best individual).

    Raises:
        ReaderNotFound: naming the path and what it should hold.
    """
    p = Path(path).expanduser().resolve()
    if not p.exists():
        raise ReaderNotFound(f"{path} does not exist; pass a search folder, a storage root or an "
                             f"individual folder")
    if p.is_file() and p.suffix == ".keras":
        if p.name != EXPORT_MODEL or not (p.parent / EXPORT_META).is_file():
            raise ReaderNotFound(f"{path} is not the {EXPORT_MODEL} of an export folder (with {EXPORT_META}); "
                                 f"pass the folder python -m ga_squad export wrote")
        return Source(SourceKind.EXPORT, p.parent)
    if p.is_dir() and ((p / EXPORT_META).is_file() or (p / EXPORT_MODEL).is_file()):
        return Source(SourceKind.EXPORT, p)
    if p.name == CHECKPOINT_NAME and (p / MANIFEST_NAME).is_file():
        return Source(SourceKind.INDIVIDUAL, p.parent)
    if _has_checkpoint(p):
        return Source(SourceKind.INDIVIDUAL, p)
    if p.is_dir():
        search = _search_dir(p, experiment)
        if search is not None:
            try:
                best = best_individual(search)
            except (NoBestIndividual, FitnessUnknown) as exc:
                raise ReaderNotFound(str(exc)) from None
            logger.info("best individual of %s: %d, %s %.4f", search, best.indiv_id, best.fitness.describe(),
                        best.value)
            return Source(SourceKind.SEARCH, best.save_dir, search)
    raise ReaderNotFound(
        f"{path} holds no reader: expected a search folder (with {JOURNAL_NAME}), a storage root of "
        f"experiment folders, an individual folder (with {CHECKPOINT_NAME}/{MANIFEST_NAME}) or an "
        f"export folder (with {EXPORT_MODEL})")


# --- building the model -----------------------------------------------------------
def restore_model(
    save_dir: str | os.PathLike[str],
    word_vocab_size: int,
    char_vocab_size: int,
    data_fingerprint: str,
    embeddings: np.ndarray | None = None,
) -> tuple[Any, dict[str, Any]]:
    """Rebuild a checkpoint's model from its manifest and load every weight.

    Returns:
        ``(keras model, manifest)``.

    Raises:
        ga_squad.reader.checkpoint.CheckpointError: if the checkpoint does not
            fit the vocabularies (fingerprint) or misses layers.
    """
    manifest = read_manifest(save_dir)
    graph = Graph.from_dict(manifest["graph"])
    model_cfg = ModelConfig.from_dict(manifest["model_config"])
    train_cfg = TrainConfig.from_dict(manifest.get("train_config") or {})
    model = build_model(graph, model_cfg, word_vocab_size, char_vocab_size,
                        embeddings=embeddings, fix_embeddings=train_cfg.fix_embeddings)
    ids = set(weights_by_hash(model))
    report = load_shared(model, save_dir, ids, data_fingerprint=data_fingerprint,
                         model_fingerprint=model_cfg.fingerprint())
    if not report.warm_start or report.missing_ids or set(report.loaded_ids) != ids:
        raise CheckpointError(f"checkpoint {save_dir} could not be loaded completely "
                              f"(missing {list(report.missing_ids)}; {report.reason})")
    return model, manifest


def logits_fn(model: Any, input_keys: tuple[str, ...]) -> LogitsFn:
    """``inputs -> (begin, end)`` numpy logits of a model returning ``{"begin", "end"}`` (one traced graph)."""
    @tf.function(reduce_retracing=True, autograph=False)
    def forward(inputs):
        out = model(inputs, training=False)
        return out["begin"], out["end"]

    def logits(batch: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        begin, end = forward({k: batch[k] for k in input_keys})
        return begin.numpy(), end.numpy()

    return logits


def _rebuilt_assets(manifest: Mapping[str, Any], source: Source) -> tuple[ReaderAssets, str, np.ndarray | None]:
    """Vocabularies of a checkpoint published without them, rebuilt from the data its manifest records."""
    recorded = manifest.get("data_config")
    if not recorded:
        raise ReaderNotFound(f"checkpoint {source.path} records neither its vocabularies nor its data settings; "
                             f"it is not a checkpoint of this version of ga-squad")
    data = load_dataset(DataConfig.from_dict(recorded), None)
    assets = ReaderAssets(data.word_vocab, data.char_vocab, TokenizerSettings.of(data.config))
    return assets, data_fingerprint(data), data.embeddings


@dataclass(frozen=True)
class LoadedCheckpoint:
    """A checkpoint's Keras model with what it needs to read text.

    Attributes:
        model: The rebuilt model, every weight loaded.
        manifest: Its manifest.
        assets: Its vocabularies and tokenizer settings.
        source: Where it was found.
    """

    model: Any
    manifest: Mapping[str, Any]
    assets: ReaderAssets
    source: Source


def load_checkpoint(source: Source) -> LoadedCheckpoint:
    """Rebuild the checkpoint of a search or individual ``source`` with its vocabularies.

    Raises:
        ReaderNotFound, AssetsError, CheckpointError: as :func:`ga_squad.reader.loader.load_reader`.
    """
    manifest = read_manifest(source.path)
    assets = load_assets(checkpoint_dir(source.path), manifest)
    embeddings = None
    if assets is None:
        logger.info("checkpoint %s has no stored vocabularies; rebuilding them from its data", source.path)
        assets, fingerprint, embeddings = _rebuilt_assets(manifest, source)
    else:
        recorded = manifest.get("data_config") or {}
        glove_dim = ModelConfig.from_dict(manifest["model_config"]).word_dim if recorded.get("glove_path") else None
        fingerprint = vocab_fingerprint(assets.word_vocab, assets.char_vocab, glove_dim)
    model, manifest = restore_model(source.path, len(assets.word_vocab), len(assets.char_vocab), fingerprint,
                                    embeddings)
    return LoadedCheckpoint(model, manifest, assets, source)

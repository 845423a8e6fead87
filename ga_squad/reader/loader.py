"""Load the reader at a path, whichever form it has: a search, an individual, or an export.

The one entry point of ``predict``, the notebook and user code. It sits above both forms
(:mod:`ga_squad.reader.bundle` for a search's checkpoints, :mod:`ga_squad.reader.export`
for an export folder) so that neither of them imports the other.
"""

from __future__ import annotations

import logging
import os

from ga_squad.reader.bundle import Reader, SourceKind, load_checkpoint, locate, logits_fn
from ga_squad.reader.config import TrainConfig
from ga_squad.reader.export import load_exported
from ga_squad.reader.model import INPUT_KEYS

__all__ = ["load_reader"]

logger = logging.getLogger(__name__)


def load_reader(path: str | os.PathLike[str], *, experiment: str | None = None) -> Reader:
    """Load the reader at ``path`` (see the module docstring for what ``path`` may be).

    Args:
        path: A search folder, a storage root, an individual folder, or an
            export folder (``python -m ga_squad export``) or its ``.keras`` file.
        experiment: Pick this experiment under a storage root.

    Raises:
        ReaderNotFound: if there is no reader at ``path``.
        ga_squad.reader.assets.AssetsError: if its stored vocabularies (or an
            export's files) are missing or damaged.
        ga_squad.reader.checkpoint.CheckpointError: if its weights are.
    """
    source = locate(path, experiment)
    if source.kind is SourceKind.EXPORT:
        return load_exported(source)
    loaded = load_checkpoint(source)
    manifest = loaded.manifest
    train_cfg = TrainConfig.from_dict(manifest.get("train_config") or {})
    indiv_id = manifest.get("indiv_id")
    logger.info("loaded individual %s from %s", indiv_id, source.path)
    return Reader(assets=loaded.assets, logits=logits_fn(loaded.model, tuple(INPUT_KEYS)),
                  input_keys=tuple(INPUT_KEYS), max_answer_len=train_cfg.max_answer_len,
                  batch_size=train_cfg.eval_batch_size, source=source,
                  indiv_id=indiv_id if isinstance(indiv_id, int) else None,
                  metrics=dict(manifest.get("metrics") or {}))

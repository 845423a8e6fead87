"""Leftovers of killed writers in a search's folders: found by owner, swept while the search runs.

A trial killed mid-write leaves a temporary checkpoint directory
(``.checkpoint.tmp-<owner>``), a pointer link about to be swapped, or a
temporary file of :func:`ga_squad.files.atomic_write` (vocabularies in
``shared/``, embedding tables in ``<storage root>/embeddings``, dataset caches
in ``<storage root>/cache``). Each name carries its owner, and only leftovers
whose owner is gone are removed (:func:`ga_squad.store.checkpoint_store.cleanup`,
:func:`ga_squad.files.remove_stale_temps`): a dead pid on this host, an expired
lease on another (an hour for checkpoints, a day for files), so a live or
slow writer, here or over NFS, is never touched.

The engine sweeps (the tuner being the only process that sees the whole search):

* **at search start** (:func:`sweep_search` at the engine's first request:
  after NNI's 10 s connect deadline, which the tuner's constructor counts
  against): every individual and every shared folder;
* **at each trial end** (:func:`sweep_after_end`): the ended individual's
  folder and the shared folders, so leftovers of a killed trial do not wait
  for the next search;
* **by retention** (:func:`ga_squad.store.checkpoint_store.prune` cleans the
  folder it prunes), and **at close** (:func:`sweep_search` again).

A leftover of a writer killed on another host stays until the first sweep
after its lease expires.
"""

from __future__ import annotations

import logging
from pathlib import Path

from ga_squad.files import remove_stale_temps
from ga_squad.store.checkpoint_store import cleanup
from ga_squad.store.paths import SearchLayout

_logger = logging.getLogger(__name__)

__all__ = ["STORAGE_FOLDERS", "shared_folders", "sweep_after_end", "sweep_individual", "sweep_search"]

STORAGE_FOLDERS = ("embeddings", "cache")
"""Folders of the storage root shared by every search (the trials' ``--embedding-store`` and ``--cache-dir`` defaults)."""


def shared_folders(layout: SearchLayout) -> list[Path]:
    """The search's ``shared/`` and the storage root's shared folders."""
    return [layout.shared_dir, *(layout.root.parent / name for name in STORAGE_FOLDERS)]


def sweep_individual(save_dir: str | Path) -> list[str]:
    """Remove one individual's leftovers (temporary checkpoints, links, files); returns their names."""
    return cleanup(save_dir) + remove_stale_temps(save_dir)


def sweep_after_end(layout: SearchLayout, indiv_id: int | None) -> list[str]:
    """After a trial end: the individual's folder (if known) and the shared folders."""
    removed = sweep_individual(layout.individual_dir(indiv_id)) if indiv_id is not None else []
    for folder in shared_folders(layout):
        removed += remove_stale_temps(folder)
    return removed


def sweep_search(layout: SearchLayout) -> list[str]:
    """Every leftover of the search whose owner is gone; returns the names removed."""
    removed: list[str] = []
    for folder in layout.individual_dirs():
        removed += sweep_individual(folder)
    for folder in shared_folders(layout):
        removed += remove_stale_temps(folder)
    if removed:
        _logger.info("%s: removed %d leftovers of killed writers", layout.root, len(removed))
    return removed

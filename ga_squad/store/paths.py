"""Where a search keeps its files: the one place that knows the storage layout.

Every trial machine sees the same storage root (local disk, or an NFS mount /
NNI ``sharedStorage`` across machines). Under it, each experiment has its own
folder, and under that each individual its own checkpoint directory::

    <save_dir_root>/<experiment_id>/lineage.jsonl
    <save_dir_root>/<experiment_id>/individuals/000042/
    <save_dir_root>/<experiment_id>/shared/           stored once per search (vocabularies)

Identity is never parsed back out of these paths: the tuner hands each trial
its paths in the parameter contract (:mod:`ga_squad.store.contract`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

JOURNAL_NAME = "lineage.jsonl"
INDIVIDUALS_DIR = "individuals"
SHARED_DIR = "shared"
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


class UnsafePathError(ValueError):
    """A path handed to a trial points outside the search's storage root."""


def ensure_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> Path:
    """Resolve ``path`` and check it stays under ``root`` (no ``..`` or symlink escape).

    Returns:
        The resolved path.

    Raises:
        UnsafePathError: if the resolved path is not inside the resolved root.
    """
    resolved_root = Path(root).resolve()
    resolved = Path(root, path).resolve() if not Path(path).is_absolute() else Path(path).resolve()
    if resolved != resolved_root and resolved_root not in resolved.parents:
        raise UnsafePathError(f"path {str(path)!r} escapes the storage root {str(resolved_root)!r}")
    return resolved


def shared_dir_for(save_dir: str | os.PathLike[str]) -> Path:
    """Where an individual stores what every checkpoint of its search shares.

    ``<experiment>/shared`` for an individual of a search's layout; beside the
    individual (``<save_dir>/../shared``) for a standalone trial elsewhere.
    """
    individual = Path(save_dir).resolve()
    if individual.parent.name == INDIVIDUALS_DIR:
        return individual.parent.parent / SHARED_DIR
    return individual.parent / SHARED_DIR


@dataclass(frozen=True)
class SearchLayout:
    """The folder of one search (one NNI experiment) under the storage root."""

    root: Path

    @classmethod
    def for_experiment(cls, save_dir_root: str | os.PathLike[str], experiment_id: str) -> SearchLayout:
        if not _SAFE_NAME.match(experiment_id) or experiment_id in {".", ".."}:
            raise UnsafePathError(f"experiment id {experiment_id!r} is not a safe folder name")
        return cls(Path(save_dir_root).resolve() / experiment_id)

    @property
    def journal_path(self) -> Path:
        return self.root / JOURNAL_NAME

    @property
    def shared_dir(self) -> Path:
        return self.root / SHARED_DIR

    def individual_dir(self, indiv_id: int) -> Path:
        if indiv_id < 0:
            raise ValueError(f"individual ids are non-negative, got {indiv_id}")
        return self.root / INDIVIDUALS_DIR / f"{indiv_id:06d}"

    def individual_dirs(self) -> list[Path]:
        """Existing individual directories, in id order."""
        base = self.root / INDIVIDUALS_DIR
        return sorted(p for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

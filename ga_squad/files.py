"""Durable files: the one home of atomic write + fsync + rename, and of file digests.

Every file ga-squad publishes on the shared storage root (dataset caches,
predictions, checkpoints, downloads) is written under a temporary name in the
destination folder, flushed and fsynced, then renamed into place with
``os.replace`` and the folder fsynced, so a reader, on this machine or over
NFS, sees either the old file or the complete new one, never a torn one.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "file_digest", "fsync_path", "replace_durably", "write_content_addressed",
           "write_json_atomic"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20


def fsync_path(path: str | os.PathLike[str]) -> None:
    """fsync a file or a directory; filesystems that refuse it for directories are tolerated."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace_durably(src: str | os.PathLike[str], dst: str | os.PathLike[str]) -> None:
    """fsync ``src``, rename it over ``dst`` (atomic), then fsync the folder so the rename survives a crash."""
    fsync_path(src)
    os.replace(src, dst)
    fsync_path(Path(dst).parent)


@contextlib.contextmanager
def atomic_write(dst: str | os.PathLike[str], mode: str = "wb", encoding: str | None = None) -> Iterator[IO[Any]]:
    """Open a temporary file beside ``dst``; on a clean exit it replaces ``dst`` durably.

    On an exception the temporary file is removed and ``dst`` is untouched.
    The file is created 0644: ``mkstemp``'s 0600 would make results on a
    shared storage root unreadable to other users.

    Args:
        dst: The final path (its folder is created).
        mode: ``"wb"`` or ``"w"``.
        encoding: Text encoding for ``"w"`` (default UTF-8).
    """
    if mode not in {"w", "wb"}:
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    target = Path(dst)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)
        text = mode == "w"
        with os.fdopen(fd, mode, encoding=(encoding or "utf-8") if text else None) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    fsync_path(target.parent)


def write_json_atomic(dst: str | os.PathLike[str], obj: Any, *, indent: int | None = None,
                      sort_keys: bool = False) -> None:
    """Write ``obj`` as UTF-8 JSON (compact unless ``indent``) so that readers never see a partial file."""
    with atomic_write(dst, "w") as f:
        if indent is None:
            json.dump(obj, f, ensure_ascii=False, separators=(",", ":"), sort_keys=sort_keys)
        else:
            json.dump(obj, f, ensure_ascii=False, indent=indent, sort_keys=sort_keys)
        f.write("\n")


def write_content_addressed(path: str | os.PathLike[str], data: bytes, sha256: str) -> bool:
    """Make ``path`` hold exactly ``data`` (whose sha256 is ``sha256``); returns whether it wrote.

    For stores keyed by content (embedding tables, vocabularies): the common
    case is that another trial already stored the same bytes, which are then
    left alone; a damaged file (other size or digest) is rewritten atomically.
    """
    target = Path(path)
    try:
        if target.stat().st_size == len(data) and file_digest(target) == sha256:
            return False
        logger.warning("stored file %s is damaged; rewriting it", target)
    except FileNotFoundError:
        pass
    with atomic_write(target) as f:
        f.write(data)
    return True


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file's bytes, read in 1 MiB blocks (``sha256`` or ``md5``)."""
    digest = hashlib.new(algorithm, usedforsecurity=False) if algorithm == "md5" else hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()

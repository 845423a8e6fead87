"""Durable files: the one home of atomic write + fsync + rename, and of file digests.

Every file ga-squad publishes on the shared storage root (dataset caches,
predictions, checkpoints, downloads) is written under a temporary name in the
destination folder, flushed and fsynced, then renamed into place with
``os.replace`` and the folder fsynced, so a reader, on this machine or over
NFS, sees either the old file or the complete new one, never a torn one.

A writer killed before its rename leaves its temporary file behind, so the
temporary name carries its owner (``.<name>.tmp-<host>-<pid>-<expiry>-<nonce>``)
and :func:`remove_stale_temps` removes exactly those whose owner is gone: on
this host a dead pid, on another host (NFS: its pids mean nothing here) an
expired lease of a day. A live writer is never touched, however slow.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["TEMP_LEASE_S", "atomic_write", "file_digest", "fsync_path", "pid_alive", "remove_stale_temps",
           "replace_durably", "temp_owner_gone", "this_host", "write_content_addressed", "write_json_atomic"]

logger = logging.getLogger(__name__)

_CHUNK = 1 << 20
TEMP_MARK = ".tmp-"
TEMP_LEASE_S = 24 * 3600.0  # another host's writer is presumed dead only after a day
_UNSAFE_HOST = re.compile(r"[^A-Za-z0-9_.]")
OWNER_TOKEN = re.compile(r"^(?P<host>[A-Za-z0-9_.]+)-(?P<pid>\d+)-(?P<expiry>\d+)-(?P<nonce>[0-9a-f]+)$")


def this_host() -> str:
    """This machine's name, made safe for a file name (no ``-``: it separates token fields)."""
    return _UNSAFE_HOST.sub("_", socket.gethostname()) or "host"


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists on this host (a zombie counts as dead)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            return f.read().split(") ", 1)[-1][:1] != "Z"
    except OSError:
        return True


def _temp_path(target: Path) -> Path:
    """A fresh temporary name beside ``target`` that names its owner (see the module docstring)."""
    token = f"{this_host()}-{os.getpid()}-{int(time.time() + TEMP_LEASE_S)}-{uuid.uuid4().hex[:8]}"
    return target.parent / f".{target.name}{TEMP_MARK}{token}"


def temp_owner_gone(name: str, now: float | None = None) -> bool | None:
    """Whether the writer of temporary file ``name`` is gone; None if ``name`` is not one of ours."""
    head, mark, token = name.rpartition(TEMP_MARK)
    match = OWNER_TOKEN.match(token) if mark and head.startswith(".") else None
    if match is None:
        return None
    if match["host"] == this_host():
        return not pid_alive(int(match["pid"]))
    return (time.time() if now is None else now) > int(match["expiry"])


def remove_stale_temps(folder: str | os.PathLike[str], now: float | None = None) -> list[str]:
    """Delete the temporary files of killed writers in ``folder`` (not recursive); returns their names.

    Ours (:func:`atomic_write`'s names) go when their owner is gone
    (:func:`temp_owner_gone`); other files are never touched. Folders
    are never removed here (a checkpoint publish in progress is one:
    :func:`ga_squad.store.checkpoint_store.cleanup` owns those).
    """
    now = time.time() if now is None else now
    removed: list[str] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        name = entry.name
        if not name.startswith("."):
            continue
        try:
            if not entry.is_file(follow_symlinks=False):
                continue
            if temp_owner_gone(name, now):
                os.unlink(entry.path)
                removed.append(name)
        except FileNotFoundError:
            continue  # its writer renamed it into place meanwhile
        except OSError as exc:
            logger.warning("could not remove the stale temporary file %s: %s", entry.path, exc)
    if removed:
        logger.info("%s: removed temporary files of killed writers %s", folder, sorted(removed))
    return removed


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
    The file is created 0644 (results on a shared storage root stay readable
    to other users) under a name that carries its owner, so the leftover of a
    killed writer can be told from a slow one (:func:`remove_stale_temps`).

    Args:
        dst: The final path (its folder is created).
        mode: ``"wb"`` or ``"w"``.
        encoding: Text encoding for ``"w"`` (default UTF-8).
    """
    if mode not in {"w", "wb"}:
        raise ValueError(f"atomic_write mode must be 'w' or 'wb', got {mode!r}")
    target = Path(dst)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = _temp_path(target)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
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

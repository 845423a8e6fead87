"""Published checkpoint directories on the shared storage root, without TensorFlow.

What a checkpoint *holds* (weights, manifest fields) is the reader's business
(:mod:`ga_squad.reader.checkpoint`); *how* it is published, found, recovered,
cleaned up and pruned is here, so that the tuner (which must never import
TensorFlow) can read a manifest's metrics on resume and delete weights for
retention, and a test can publish checkpoint-sized files through the real path.

Layout of one individual's ``save_dir``::

    checkpoint -> .checkpoint.v000002-<owner>    the pointer: a symlink, replaced atomically
    .checkpoint.v000002-<owner>/manifest.json     a complete version (written last)
    .checkpoint.v000002-<owner>/weights.h5
    .checkpoint.tmp-<owner>/                      a publish in progress
    .checkpoint.link-<owner>                      a pointer about to replace ``checkpoint``

``<owner>`` is :meth:`~ga_squad.store.ownership.Owner.token` (host, pid,
lease expiry, nonce) of the publishing process.

**Publish order** (:func:`publishing`): write everything into the temporary
directory (manifest last, each file and the directory fsynced), rename it to
a new version (atomic, also over NFS), then atomically replace the pointer
by a symlink to that version, then delete superseded versions. At every
instant ``checkpoint`` is either absent (before the first publish), or points
at a complete version: a re-publish never opens a gap.

**Recovery** (:func:`resolve`): a reader follows the pointer; if it is
missing or dangling (a kill between the steps, or a plain ``checkpoint``
directory being moved aside) the newest complete version is used, and the next
:func:`cleanup` repairs the pointer. A version the reader may not read (no
permission) is missing to it, with a WARNING, never an exception: the child
cold-starts, the tuner counts the individual as unpublished, and cleanup
leaves the versions alone.

**Cleanup by ownership** (:func:`cleanup`, run before every publish and by
retention): a temporary directory or pointer is removed only if its owner is
gone (dead pid on this host, expired lease on another host); a live publish
is never touched, however slow. Versions older than the pointer's are
superseded and removed; a version newer than the pointer's (a publish killed
before its swap, whose trial therefore never reported) is removed once its
owner is gone.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ga_squad.files import fsync_path
from ga_squad.store.ownership import Owner

_logger = logging.getLogger(__name__)

__all__ = [
    "CHECKPOINT_NAME",
    "MANIFEST_NAME",
    "ManifestError",
    "cleanup",
    "disk_usage",
    "pointer",
    "prune",
    "published_metrics",
    "publishing",
    "read_manifest_json",
    "resolve",
    "versions",
]

CHECKPOINT_NAME = "checkpoint"
MANIFEST_NAME = "manifest.json"
PRUNED_NAME = "pruned.json"
_TMP = f".{CHECKPOINT_NAME}.tmp-"
_LINK = f".{CHECKPOINT_NAME}.link-"
_VERSION = f".{CHECKPOINT_NAME}.v"


class ManifestError(ValueError):
    """No published checkpoint, or its manifest cannot be read as a JSON object."""


def pointer(save_dir: str | os.PathLike[str]) -> Path:
    """The name readers open: ``<save_dir>/checkpoint``."""
    return Path(save_dir) / CHECKPOINT_NAME


def _version_key(name: str) -> tuple[int, str] | None:
    if not name.startswith(_VERSION):
        return None
    number, _, _ = name[len(_VERSION):].partition("-")
    return (int(number), name) if number.isdigit() else None


def versions(save_dir: str | os.PathLike[str]) -> list[Path]:
    """Complete versions (a manifest inside), oldest first."""
    base = Path(save_dir)
    try:
        names = os.listdir(base)
    except OSError:
        return []
    found = sorted((key, name) for name in names if (key := _version_key(name)) is not None)
    return [base / name for _, name in found if _manifest_state(base / name) == "complete"]


def _manifest_state(version: Path) -> str:
    """``complete`` (a manifest inside), ``absent``, or ``unreadable`` (e.g. no permission: logged).

    Never raises: a child whose parent cannot be read cold-starts, and the
    tuner's resume and end recovery treat it as unpublished, instead of
    crashing on the ``PermissionError`` of a plain ``is_file()``.
    """
    try:
        return "complete" if stat.S_ISREG(os.stat(version / MANIFEST_NAME).st_mode) else "absent"
    except (FileNotFoundError, NotADirectoryError):
        return "absent"
    except OSError as exc:
        _logger.warning("checkpoint %s is unreadable (%s); treated as missing", version, exc)
        return "unreadable"


def _named(save_dir: Path) -> Path | None:
    """The version the pointer names (complete or not), or None without a pointer."""
    link = pointer(save_dir)
    try:
        if link.is_symlink():
            return save_dir / os.readlink(link)
        if link.is_dir():  # a plain directory: a copy of the search that followed the symlink
            return link
    except OSError:
        return None
    return None


def _target(save_dir: Path) -> Path | None:
    """The version the pointer names if it is complete, else None."""
    named = _named(save_dir)
    return named if named is not None and _manifest_state(named) == "complete" else None


def resolve(save_dir: str | os.PathLike[str]) -> Path | None:
    """The directory of the current complete checkpoint, or None (see "Recovery").

    A pointer naming a version that exists but cannot be read gives None, not
    an older version: that would be another checkpoint than the one published.
    """
    save_dir = Path(save_dir)
    named = _named(save_dir)
    if named is not None:
        state = _manifest_state(named)
        if state == "complete":
            return named
        if state == "unreadable":
            return None
    found = versions(save_dir)
    if found:
        _logger.info("%s: pointer missing or dangling, using the newest complete version %s",
                     pointer(save_dir), found[-1].name)
        return found[-1]
    return None


def read_manifest_json(save_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The current manifest as a dict (plain JSON: no TensorFlow, no h5py).

    Raises:
        ManifestError: if nothing is published or the manifest is unreadable.
    """
    where = resolve(save_dir)
    if where is None:
        raise ManifestError(f"no published checkpoint at {pointer(save_dir)}")
    path = where / MANIFEST_NAME
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ManifestError(f"unreadable manifest {path}: {exc}") from None
    if not isinstance(manifest, dict):
        raise ManifestError(f"{path}: not a JSON object")
    return manifest


def published_metrics(save_dir: str | os.PathLike[str], indiv_id: int) -> dict[str, Any] | None:
    """The metrics a complete checkpoint of ``indiv_id`` records, or None.

    Complete means: a manifest that names this individual and holds a
    metrics dict with a ``default`` (what the trial reported, or was about to).
    """
    try:
        manifest = read_manifest_json(save_dir)
    except ManifestError as exc:
        _logger.debug("no published result for individual %d: %s", indiv_id, exc)
        return None
    metrics = manifest.get("metrics")
    if manifest.get("indiv_id") != indiv_id or not isinstance(metrics, dict) or "default" not in metrics:
        _logger.warning("checkpoint in %s is not a complete checkpoint of individual %d", save_dir, indiv_id)
        return None
    return metrics


@contextlib.contextmanager
def publishing(save_dir: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty private directory; on a clean exit it becomes the published checkpoint.

    The caller writes its files into it (manifest last, each file fsynced).
    On an exception the directory is removed and the published checkpoint,
    if any, is untouched. See the module docstring for the order of steps.
    """
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    cleanup(save_dir)
    owner = Owner.me()
    tmp = save_dir / f"{_TMP}{owner.token()}"
    tmp.mkdir(mode=0o755)
    try:
        yield tmp
        fsync_path(tmp)
        existing = [key for name in os.listdir(save_dir) if (key := _version_key(name)) is not None]
        number = max((n for n, _ in existing), default=0) + 1
        version = save_dir / f"{_VERSION}{number:06d}-{owner.token()}"
        os.rename(tmp, version)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    _point_to(save_dir, version, owner)
    _remove_superseded(save_dir)


def _point_to(save_dir: Path, version: Path, owner: Owner) -> None:
    """Atomically replace the pointer by a symlink to ``version``."""
    link = save_dir / f"{_LINK}{owner.token()}"
    with contextlib.suppress(FileNotFoundError):
        link.unlink()
    os.symlink(version.name, link)
    try:
        os.replace(link, pointer(save_dir))
    except IsADirectoryError:
        # A plain directory (a copy that followed the symlink): keep it as version 0, then swap.
        # Readers in between find the newest complete version (see resolve()).
        plain = save_dir / f"{_VERSION}000000-{Owner(owner.host, 0, 0, '0').token()}"
        os.rename(pointer(save_dir), plain)
        os.replace(link, pointer(save_dir))
    except BaseException:
        with contextlib.suppress(OSError):
            link.unlink()
        raise
    fsync_path(save_dir)


def _remove_superseded(save_dir: Path) -> None:
    target = _target(save_dir)
    if target is None or _version_key(target.name) is None:
        return
    current = _version_key(target.name)
    for name in os.listdir(save_dir):
        key = _version_key(name)
        if key is not None and key < current:  # type: ignore[operator]
            shutil.rmtree(save_dir / name, ignore_errors=True)


def cleanup(save_dir: str | os.PathLike[str]) -> list[str]:
    """Remove leftovers of killed publishes by ownership and repair the pointer.

    Returns:
        The names removed (for logs and tests).
    """
    save_dir = Path(save_dir)
    try:
        names = os.listdir(save_dir)
    except OSError:
        return []
    removed: list[str] = []
    for name in names:
        for prefix in (_TMP, _LINK):
            if name.startswith(prefix):
                owner = Owner.parse(name[len(prefix):])
                if owner is not None and owner.gone():
                    _remove(save_dir / name)
                    removed.append(name)
    named = _named(save_dir)
    if named is not None and _manifest_state(named) == "unreadable":
        # Versions cannot be judged against a pointer we cannot read: keep them all.
        return removed
    if _target(save_dir) is None and (found := versions(save_dir)):
        newest = found[-1]
        owner = Owner.parse(newest.name.partition("-")[2])
        if owner is None or owner.gone():
            _logger.warning("%s: repairing the checkpoint pointer to %s", save_dir, newest.name)
            _point_to(save_dir, newest, Owner.me())
    target = _target(save_dir)
    current = _version_key(target.name) if target is not None else None
    for name in os.listdir(save_dir):
        key = _version_key(name)
        if key is None or (save_dir / name) == target:
            continue
        owner = Owner.parse(name[len(_VERSION):].partition("-")[2])
        if (current is not None and key < current) or owner is None or owner.gone():
            _remove(save_dir / name)
            removed.append(name)
    if removed:
        _logger.info("%s: removed leftovers of killed publishes %s", save_dir, sorted(removed))
    return removed


def _remove(path: Path) -> None:
    if path.is_symlink() or path.is_file():
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def prune(save_dir: str | os.PathLike[str], reason: str) -> int:
    """Delete an individual's weights, keeping its manifest (metrics, lineage) readable.

    Every file of the current version except the manifest is deleted and a
    ``pruned.json`` note is left beside the manifest; other versions are
    removed whole. A reader then gets "incomplete checkpoint" (a child would
    cold-start), which retention makes sure never happens to a child that may
    still read it.

    Returns:
        Bytes freed.
    """
    save_dir = Path(save_dir)
    cleanup(save_dir)  # leftovers of killed publishes go with the weights
    freed = 0
    target = _target(save_dir)
    named = _named(save_dir)
    for version in [save_dir / n for n in os.listdir(save_dir)] if save_dir.is_dir() else []:
        if _version_key(version.name) is None or version in (target, named):
            continue
        freed += disk_usage(version)
        _remove(version)
    if target is not None:
        for entry in target.iterdir():
            if entry.name in (MANIFEST_NAME, PRUNED_NAME):
                continue
            freed += disk_usage(entry)
            _remove(entry)
        (target / PRUNED_NAME).write_text(json.dumps({"reason": reason, "bytes": freed}), encoding="utf-8")
    return freed


def disk_usage(path: str | os.PathLike[str]) -> int:
    """Bytes of the files under ``path`` (symlinks not followed)."""
    path = Path(path)
    if path.is_symlink():
        return 0
    if path.is_file():
        return path.stat().st_size
    total = 0
    for folder, _, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(folder, name)).st_size
    return total

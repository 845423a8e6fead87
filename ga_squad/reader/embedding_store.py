"""Frozen arrays shared by many checkpoints, stored once and named by their content.

With fixed GloVe vectors every individual of a search holds the same word
table, by far its largest variable (77 % of a default-size checkpoint). A
checkpoint therefore stores such arrays here, once per search storage root,
and its manifest references them::

    <store>/<sha256 of the .npy bytes>.npy

The name is the digest of the file's bytes, so equal arrays share one file,
a file is never rewritten with other content, and a reader checks what it
loads against the name its manifest recorded. Files are written with
:func:`ga_squad.files.atomic_write`: two trials storing the same table race
harmlessly (one rename wins, both are identical).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
from pathlib import Path

import numpy as np

from ga_squad.files import write_content_addressed

__all__ = ["StoreError", "array_file", "load_array", "store_array"]

logger = logging.getLogger(__name__)

_SUFFIX = ".npy"


class StoreError(RuntimeError):
    """A stored array is missing or does not match its digest."""


def _npy_bytes(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
    return buf.getvalue()


def array_file(store: str | os.PathLike[str], sha256: str) -> Path:
    """The one place that knows where the array with this digest lives."""
    return Path(store) / f"{sha256}{_SUFFIX}"


def store_array(store: str | os.PathLike[str], array: np.ndarray) -> tuple[Path, str]:
    """Store ``array`` once; return its file and digest.

    An existing file with the right name is kept if its bytes still match
    (the common case: every trial of a search stores the same table); a
    damaged one is replaced.
    """
    data = _npy_bytes(array)
    sha = hashlib.sha256(data).hexdigest()
    path = array_file(store, sha)
    if write_content_addressed(path, data, sha):
        logger.info("stored a %s %s array (%d bytes) at %s", array.dtype, array.shape, len(data), path)
    return path, sha


def load_array(path: str | os.PathLike[str], sha256: str) -> np.ndarray:
    """Load a stored array, checking its bytes against ``sha256``.

    Raises:
        StoreError: if the file is missing, unreadable or not the recorded content.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise StoreError(f"stored array {path} is unreadable: {exc}") from None
    if hashlib.sha256(data).hexdigest() != sha256:
        raise StoreError(f"stored array {path} does not match its digest {sha256}")
    try:
        return np.load(io.BytesIO(data), allow_pickle=False)
    except ValueError as exc:
        raise StoreError(f"stored array {path} is not a .npy file: {exc}") from None

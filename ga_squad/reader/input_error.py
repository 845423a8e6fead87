"""The error of a user's input file: missing, unreadable, empty or malformed data (SQuAD, GloVe).

A trial given a bad file must say so in one line that names the file and the
problem, not in a traceback (``trial/trial.py`` prints :class:`InputError` as
``error: <message>`` and keeps the traceback in its log at DEBUG). The readers
(:mod:`ga_squad.reader.squad`, :mod:`ga_squad.reader.glove`) raise subclasses
of it, so a caller tells a user's data problem from a bug by its type.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["InputError", "InputFileMissing", "InputFileUnreadable", "require_file"]


class InputError(Exception):
    """An input data file cannot be used; the message names the file and the problem (one line)."""


class InputFileMissing(InputError, FileNotFoundError):
    """An input file does not exist, or is a folder (still a ``FileNotFoundError`` to callers that catch that)."""


class InputFileUnreadable(InputError, PermissionError):
    """An input file may not be read (still a ``PermissionError`` to callers that catch that)."""


def require_file(path: str | os.PathLike[str], what: str) -> Path:
    """``path`` as a Path if it is a readable regular file.

    Args:
        path: The file.
        what: What it is, for the message (``"SQuAD file"``, ``"GloVe file"``).

    Raises:
        InputFileMissing: if there is no such file, or it is a folder.
        InputFileUnreadable: if it cannot be opened for reading.
    """
    p = Path(path)
    if not p.exists():
        raise InputFileMissing(f"{what} not found: {p}")
    if not p.is_file():
        raise InputFileMissing(f"{what} not found: {p} is a folder")
    try:
        with p.open("rb"):
            pass
    except OSError as exc:
        raise InputFileUnreadable(f"{what} {p} cannot be read: {exc.strerror or exc}") from None
    return p

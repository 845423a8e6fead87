"""One tuner per experiment folder: an exclusive lock with its holder's pid and host.

Two tuners on one experiment id would hand out the same individual ids into
the same folders and the same journal. :class:`ExperimentLock` prevents it:
the tuner holds an exclusive ``flock`` on ``<experiment>/tuner.lock`` for its
whole life, and the file names the holder (pid, host, start time) so that a
second tuner is refused with a message saying who holds it.

Stale locks: the kernel drops a ``flock`` when its process dies (``kill -9``
included), and NFSv4 drops a dead client's locks when its lease expires, so
a dead holder never blocks a resume. Where the filesystem has no locks at all,
the pid/host in the file decide instead (:meth:`Owner.gone
<ga_squad.store.ownership.Owner.gone>`: dead pid on this host).
"""

from __future__ import annotations

import errno
import fcntl
import json
import logging
import os
from pathlib import Path
from typing import IO

from ga_squad.store.ownership import Owner

_logger = logging.getLogger(__name__)

__all__ = ["ExperimentLock", "ExperimentLocked", "LOCK_NAME"]

LOCK_NAME = "tuner.lock"
_HOLDER_LEASE_S = 10 * 365 * 86400.0  # another host's tuner is never presumed dead by age


class ExperimentLocked(RuntimeError):
    """Another live tuner holds the experiment folder."""


class ExperimentLock:
    """Exclusive, process-lifetime lock of one experiment folder.

    Args:
        root: The experiment folder (created if missing).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.path = Path(root) / LOCK_NAME
        self._file: IO[str] | None = None

    def acquire(self) -> ExperimentLock:
        """Take the lock or raise :class:`ExperimentLocked` naming the holder.

        Returns:
            self, holding the lock.
        """
        if self._file is not None:
            return self
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held for the process lifetime
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(handle)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                handle.close()
                raise ExperimentLocked(self._message(holder)) from None
            # No lock support on this filesystem: fall back on the holder's pid/host.
            if holder is not None and not holder.gone():
                handle.close()
                raise ExperimentLocked(self._message(holder)) from None
            _logger.warning("%s: file locks unsupported (%s); relying on the pid/host in the file", self.path, exc)
        me = Owner.me(lease_s=_HOLDER_LEASE_S)
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(me.to_dict()) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
        self._file = handle
        _logger.info("experiment folder %s locked by %s", self.path.parent, me.describe())
        return self

    def check(self) -> None:
        """Raise :class:`ExperimentLocked` naming the holder if a live tuner holds the folder.

        Takes nothing and creates nothing (a shared ``flock`` tried and
        dropped at once): for a launcher that must refuse before it starts
        NNI, which would report a refused tuner only as "Tuner did not
        connect in 10 seconds".
        """
        try:
            handle = open(self.path, encoding="utf-8")  # noqa: SIM115 - closed below
        except OSError:
            return  # no lock file (a new experiment), or none we may read: the tuner will say
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError as exc:
                holder = _read_holder(handle)
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise ExperimentLocked(self._message(holder)) from None
                if holder is not None and not holder.gone():  # no lock support: the pid/host decide
                    raise ExperimentLocked(self._message(holder)) from None
                return
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def release(self) -> None:
        """Give the lock up (idempotent). The file stays: its content is only informative."""
        if self._file is None:
            return
        try:
            self._file.seek(0)
            self._file.truncate()
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        except OSError:
            pass
        finally:
            self._file.close()
            self._file = None

    @property
    def held(self) -> bool:
        return self._file is not None

    def __enter__(self) -> ExperimentLock:
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _message(self, holder: Owner | None) -> str:
        who = holder.describe() if holder is not None else "another process"
        return (f"experiment folder {self.path.parent} is already used by a tuner ({who}, lock {self.path}); "
                "two tuners on one experiment would hand out the same individuals: stop the other one first")


def _read_holder(handle: IO[str]) -> Owner | None:
    try:
        handle.seek(0)
        return Owner.from_dict(json.loads(handle.read() or "null"))
    except (OSError, ValueError):
        return None

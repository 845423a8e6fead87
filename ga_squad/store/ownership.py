"""Who owns a file on the shared storage root, and whether that owner is gone.

Leftovers of a killed process (a half-written checkpoint, a lock file) must
be cleaned up, but a slow writer over NFS must never lose its work to a
cleaner that only looks at a file's age. So every such name or file carries
its owner: host, pid and a lease expiry. The rule (:meth:`Owner.gone`):

* on **this host**, the owner is gone iff its pid is dead (a live owner is
  never touched, however old its file);
* on **another host** (we cannot see its processes), the owner is gone iff
  its lease expired.

The lease is generous (an hour by default): it only matters for a process
killed on another machine, whose leftovers then wait an hour.
"""

from __future__ import annotations

import os
import time
import uuid
from dataclasses import dataclass

# The host and pid rules live with the durable files (whose temporary names carry an owner too).
from ga_squad.files import OWNER_TOKEN as _TOKEN
from ga_squad.files import pid_alive, this_host

__all__ = ["DEFAULT_LEASE_S", "Owner", "pid_alive", "this_host"]

DEFAULT_LEASE_S = 3600.0


@dataclass(frozen=True)
class Owner:
    """A process that owns a file: host, pid, lease expiry (unix seconds) and a nonce.

    The nonce makes two tokens of one process distinct.
    """

    host: str
    pid: int
    expiry: int
    nonce: str

    @classmethod
    def me(cls, lease_s: float = DEFAULT_LEASE_S) -> Owner:
        return cls(this_host(), os.getpid(), int(time.time() + lease_s), uuid.uuid4().hex[:8])

    def token(self) -> str:
        """``host-pid-expiry-nonce``: safe inside a file name."""
        return f"{self.host}-{self.pid}-{self.expiry}-{self.nonce}"

    @classmethod
    def parse(cls, token: str) -> Owner | None:
        """The owner a token names, or None if it is not a token."""
        match = _TOKEN.match(token)
        if match is None:
            return None
        return cls(match["host"], int(match["pid"]), int(match["expiry"]), match["nonce"])

    def to_dict(self) -> dict[str, object]:
        return {"host": self.host, "pid": self.pid, "expiry": self.expiry, "nonce": self.nonce}

    @classmethod
    def from_dict(cls, data: object) -> Owner | None:
        if not isinstance(data, dict):
            return None
        try:
            return cls(str(data["host"]), int(data["pid"]), int(data["expiry"]), str(data.get("nonce", "")))
        except (KeyError, TypeError, ValueError):
            return None

    def gone(self, now: float | None = None) -> bool:
        """Whether what this owner left may be removed (see the module docstring)."""
        if self.host == this_host():
            return not pid_alive(self.pid)
        return (time.time() if now is None else now) > self.expiry

    def describe(self) -> str:
        return f"pid {self.pid} on host {self.host}"

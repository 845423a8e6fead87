"""Fetch one file over HTTP: resumed, retried, checksummed, published atomically.

Why this module exists: the search needs large data sets (GloVe 6B is an
822 MiB zip) from hosts that sometimes drop the connection. ``requests`` does
the HTTP (streaming GET, redirects, proxies, timeouts); on top of it this
module keeps what no library gives us together: every download goes to
``<dest>.part``, an interrupted one is resumed with ``Range: bytes=N-`` (the
reply's ``Content-Range`` is checked, and a server that ignores ``Range``
makes us start over from byte 0), the result is checked against a known MD5
and size, and only then renamed into place with
:func:`ga_squad.files.replace_durably`. A file under its final name is
therefore always complete and verified.

The retry loop is ours rather than urllib3's ``Retry``: each retry must send a
new ``Range`` offset (the current ``.part`` size), failures while the body
streams must be retried too, and an attempt that adds bytes resets the
failure count so a long download over a flaky link still finishes.

Where a file comes from is data: each is a frozen :class:`RemoteFile`, and
:meth:`RemoteFile.with_mirror` redirects it to ``<mirror>/<name>`` (the
``GA_SQUAD_MIRROR`` environment variable, read by :func:`mirror_from_env`).
The official SQuAD/GloVe table lives in :mod:`ga_squad.launch.datasets`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import socket
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import requests
import urllib3
from tqdm import tqdm

from ga_squad import __version__
from ga_squad.files import file_digest, replace_durably

logger = logging.getLogger(__name__)

MIRROR_ENV_VAR = "GA_SQUAD_MIRROR"
"""Environment variable naming a directory URL that holds all the files."""

OFFLINE_HINT = (
    "If this machine has no network access, use the small SQuAD sample bundled "
    "with the project for offline runs, or set "
    f"{MIRROR_ENV_VAR}=http://host/dir to a reachable mirror holding the files."
)

_MD5_RE = re.compile(r"^[0-9a-f]{32}$")
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
# HTTP statuses worth retrying besides 5xx: request timeout, too many requests.
_TRANSIENT_HTTP_CODES = frozenset({408, 429})
_PART_SUFFIX = ".part"


class DownloadError(RuntimeError):
    """A file could not be downloaded, verified or extracted.

    Raised with a one-line message that names the file and URL (and, for
    checksum failures, the expected and actual checksums) so the user can act
    on it without reading a traceback.
    """


class _TransientError(Exception):
    """A failure worth retrying (connection reset, timeout, short read, 5xx)."""


@dataclass(frozen=True)
class RemoteFile:
    """One downloadable file and what it must look like once downloaded.

    Attributes:
        name: Local file name, also the name looked up on a mirror.
        url: Where to fetch it.
        md5: Expected MD5 of the whole file, lowercase hex.
        size: Expected size in bytes, or None if unknown. Checked before the
            (slower) MD5 so a wrong file is rejected cheaply.
    """

    name: str
    url: str
    md5: str
    size: int | None = None

    def __post_init__(self) -> None:
        if not self.name or "/" in self.name or "\\" in self.name or self.name in (".", ".."):
            raise ValueError(f"RemoteFile.name must be a plain file name, got {self.name!r}")
        if "://" not in self.url:
            raise ValueError(f"RemoteFile.url must be an absolute URL, got {self.url!r}")
        if not _MD5_RE.match(self.md5):
            raise ValueError(f"RemoteFile.md5 must be 32 lowercase hex digits, got {self.md5!r}")
        if self.size is not None and self.size < 0:
            raise ValueError(f"RemoteFile.size must be >= 0, got {self.size}")

    def with_mirror(self, mirror: str) -> RemoteFile:
        """Returns the same file fetched from ``<mirror>/<name>``.

        Args:
            mirror: Base URL of a directory holding the file, e.g.
                ``http://host/dir`` (a trailing slash is allowed).
        """
        return dataclasses.replace(self, url=f"{mirror.rstrip('/')}/{self.name}")


def mirror_from_env(environ: Mapping[str, str] | None = None) -> str | None:
    """Returns the mirror named by ``GA_SQUAD_MIRROR``, or None if unset/empty.

    Args:
        environ: Environment to read; ``os.environ`` by default.
    """
    env = os.environ if environ is None else environ
    value = env.get(MIRROR_ENV_VAR, "").strip()
    return value or None


@dataclass(frozen=True)
class DownloadOptions:
    """How hard to try, and how patiently.

    Attributes:
        retries: How many failed attempts in a row (without new bytes) are
            retried before giving up. An attempt that extends the partial file
            resets the count, so a long download over a flaky link still
            finishes, while a server that always fails is bounded.
        backoff_s: Wait before the first retry; doubled after each failure.
        max_backoff_s: Upper bound on the wait between retries.
        timeout_s: Timeout for connecting and for each read.
        chunk_size: Bytes read from the response per step.
        user_agent: Sent as ``User-Agent``, so hosts can tell who is asking.
    """

    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    timeout_s: float = 60.0
    chunk_size: int = 1 << 16
    user_agent: str = f"ga-squad/{__version__} (python-requests/{requests.__version__})"

    def __post_init__(self) -> None:
        if self.retries < 0:
            raise ValueError(f"retries must be >= 0, got {self.retries}")
        if self.backoff_s < 0 or self.max_backoff_s < 0:
            raise ValueError("backoff times must be >= 0")
        if self.timeout_s <= 0:
            raise ValueError(f"timeout_s must be > 0, got {self.timeout_s}")
        if self.chunk_size <= 0:
            raise ValueError(f"chunk_size must be > 0, got {self.chunk_size}")

    def backoff(self, failures: int) -> float:
        """Returns the wait before retrying after ``failures`` failures (>= 1)."""
        return min(self.backoff_s * 2 ** (failures - 1), self.max_backoff_s)


def part_path(dest: Path) -> Path:
    """Returns where ``dest`` is written while incomplete.

    A fixed name (not a random temporary one) so that a run killed outright
    leaves a file the next run resumes or overwrites, never an orphan.
    """
    return dest.with_name(dest.name + _PART_SUFFIX)


def is_intact(path: Path, remote: RemoteFile) -> bool:
    """Returns whether ``path`` exists and has the expected size and MD5."""
    if not path.is_file():
        return False
    if remote.size is not None and path.stat().st_size != remote.size:
        return False
    return file_digest(path, "md5") == remote.md5


def _verify(path: Path, remote: RemoteFile) -> None:
    """Raises DownloadError (after deleting ``path``) unless it is intact."""
    size = path.stat().st_size
    actual = file_digest(path, "md5")
    if (remote.size is None or size == remote.size) and actual == remote.md5:
        return
    path.unlink(missing_ok=True)
    expected_size = "unknown" if remote.size is None else str(remote.size)
    raise DownloadError(
        f"{remote.name}: checksum mismatch for data from {remote.url}: "
        f"expected md5 {remote.md5} ({expected_size} bytes), "
        f"got md5 {actual} ({size} bytes). The partial file was deleted; "
        "run again to retry, and check the URL or mirror if it keeps failing."
    )


def parse_content_range(value: str | None) -> tuple[int, int, int | None] | None:
    """Parses ``Content-Range: bytes start-end/total``.

    Returns:
        ``(start, end, total)`` with ``total`` None for ``*``, or None if the
        header is missing or malformed.
    """
    if value is None:
        return None
    match = _CONTENT_RANGE_RE.match(value)
    if match is None:
        return None
    total = None if match.group(3) == "*" else int(match.group(3))
    return int(match.group(1)), int(match.group(2)), total


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """Yields ``exc`` and what it was raised from: requests wraps urllib3 wraps the socket error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _root_cause(exc: BaseException) -> str:
    """Names the innermost cause, which says what happened in a few words ("Connection refused")."""
    *_, root = _causes(exc)
    return f"{type(root).__name__}: {root}" if str(root) else type(root).__name__


def _open(session: requests.Session, remote: RemoteFile, offset: int, options: DownloadOptions) -> requests.Response | None:
    """Sends the GET; returns the streaming response, or None on 416 at an offset.

    Raises:
        DownloadError: For permanent failures (404 and other 4xx, DNS, TLS,
            a malformed URL).
        _TransientError: For failures worth retrying.
    """
    headers = {"Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    try:
        response = session.get(remote.url, headers=headers, stream=True, timeout=options.timeout_s)
    except requests.exceptions.SSLError as exc:
        raise DownloadError(f"{remote.name}: TLS failure for {remote.url}: {_root_cause(exc)}") from exc
    except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
        if any(isinstance(cause, socket.gaierror) for cause in _causes(exc)):
            raise DownloadError(
                f"{remote.name}: cannot resolve the host of {remote.url} "
                f"({_root_cause(exc)}); is there no network? {OFFLINE_HINT}"
            ) from exc
        raise _TransientError(f"cannot connect: {_root_cause(exc)}") from exc
    except requests.exceptions.RequestException as exc:
        raise DownloadError(f"{remote.name}: cannot request {remote.url}: {exc}") from exc
    status = response.status_code
    if status < 300:
        return response
    response.close()
    if status == 416 and offset > 0:
        # Nothing beyond what we have: the partial file is complete (or
        # bogus); verification decides.
        return None
    if status >= 500 or status in _TRANSIENT_HTTP_CODES:
        raise _TransientError(f"HTTP {status} {response.reason}")
    raise DownloadError(
        f"{remote.name}: HTTP {status} {response.reason} for {remote.url}. "
        f"The file is not at that address; check the URL or the mirror ({MIRROR_ENV_VAR})."
    )


def _body(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """Streams the body as sent, turning a broken connection into a _TransientError.

    Read from urllib3's raw stream rather than ``iter_content``: the bytes are
    the ones ``Range`` offsets count (no content decoding), and every byte
    that arrived before the connection broke is handed over, whereas
    ``iter_content`` drops a partly filled chunk and the resume would fetch it
    again. Only the network side is wrapped: an error writing the local file
    (disk full) surfaces as itself, not as something worth retrying.
    """
    try:
        yield from response.raw.stream(chunk_size, decode_content=False)
    except (urllib3.exceptions.HTTPError, OSError) as exc:
        raise _TransientError(f"connection failed while reading: {_root_cause(exc)}") from exc


def _attempt(session: requests.Session, remote: RemoteFile, part: Path, options: DownloadOptions,
             stream: TextIO | None, quiet: bool) -> None:
    """Makes one attempt to complete ``part``, resuming from its current size.

    Returns normally when the server says the file is complete; the caller
    then verifies it.
    """
    offset = part.stat().st_size if part.exists() else 0
    if remote.size is not None and offset >= remote.size:
        if offset == remote.size:
            return
        logger.warning("%s is larger than expected; starting over", part)
        part.unlink()
        offset = 0
    response = _open(session, remote, offset, options)
    if response is None:
        return
    with response:
        mode = "wb"
        if response.status_code == 206:
            content_range = parse_content_range(response.headers.get("Content-Range"))
            if content_range is None or content_range[0] != offset:
                part.unlink(missing_ok=True)
                raise _TransientError(
                    f"server sent an unexpected range {response.headers.get('Content-Range')!r} "
                    f"for bytes={offset}-; starting over"
                )
            mode = "ab"
            logger.info("resuming %s at byte %d", remote.name, offset)
        elif offset > 0:
            logger.info("server ignored the Range request; restarting %s from zero", remote.name)
            offset = 0
        length_header = response.headers.get("Content-Length", "")
        length = int(length_header) if length_header.isdigit() else None
        received = 0
        with open(part, mode) as out, tqdm(
            desc=remote.name,
            total=offset + length if length is not None else remote.size,
            initial=offset,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            file=stream,
            disable=True if quiet else None,  # None: off unless ``stream`` is a terminal
        ) as bar:
            for chunk in _body(response, options.chunk_size):
                out.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
    if length is not None and received < length:
        raise _TransientError(f"connection closed after {received} of {length} bytes")


def _fetch_to_part(remote: RemoteFile, part: Path, options: DownloadOptions, stream: TextIO | None,
                   quiet: bool) -> None:
    """Retries :func:`_attempt` with exponential backoff until it succeeds."""
    failures = 0
    high_water = part.stat().st_size if part.exists() else 0
    with requests.Session() as session:
        session.headers["User-Agent"] = options.user_agent
        while True:
            try:
                _attempt(session, remote, part, options, stream, quiet)
                return
            except _TransientError as exc:
                size_now = part.stat().st_size if part.exists() else 0
                if size_now > high_water:
                    high_water = size_now
                    failures = 0
                failures += 1
                if failures > options.retries:
                    raise DownloadError(
                        f"{remote.name}: giving up on {remote.url} after {failures} failed "
                        f"attempts in a row; last error: {exc}. {OFFLINE_HINT}"
                    ) from exc
                delay = options.backoff(failures)
                logger.warning("%s: %s; retry %d of %d in %.1f s", remote.name, exc, failures, options.retries, delay)
                time.sleep(delay)


def download(
    remote: RemoteFile,
    dest_dir: Path | str,
    *,
    options: DownloadOptions | None = None,
    progress_stream: TextIO | None = None,
    quiet: bool = False,
) -> Path:
    """Downloads one file into ``dest_dir`` unless an intact copy is there.

    The data goes to ``<name>.part`` first (resumed with a Range request if a
    previous run was interrupted), is checked against ``remote.md5`` and
    ``remote.size``, and is then atomically renamed, so ``<name>`` is never
    seen incomplete.

    Args:
        remote: What to fetch and how to check it; ``remote.url`` is used as is.
        dest_dir: Directory to put ``remote.name`` in (created if missing).
        options: Retry and timeout settings; defaults to ``DownloadOptions()``.
        progress_stream: Where the tqdm bar goes; ``sys.stderr`` if None. The
            bar is drawn only when this stream is a terminal.
        quiet: No progress bar at all.

    Returns:
        The path of the verified file.

    Raises:
        DownloadError: On a 404 or other permanent HTTP error, no network,
            retries exhausted, or a checksum mismatch (the ``.part`` file is
            then deleted and no file is published).
    """
    options = DownloadOptions() if options is None else options
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / remote.name
    if dest.exists():
        if is_intact(dest, remote):
            logger.info("%s already present at %s (checksum ok)", remote.name, dest)
            return dest
        logger.warning("%s exists but does not match md5 %s; downloading it again", dest, remote.md5)
    part = part_path(dest)
    logger.info("downloading %s from %s", remote.name, remote.url)
    _fetch_to_part(remote, part, options, progress_stream, quiet)
    _verify(part, remote)
    replace_durably(part, dest)
    logger.info("downloaded %s (md5 ok)", dest)
    return dest

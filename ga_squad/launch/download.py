"""Download SQuAD v1.1 and GloVe 6B from their official locations.

Why this module exists: the search needs the real data sets, which are large
(GloVe 6B is an 822 MiB zip) and served from hosts that sometimes drop the
connection. So every download goes to ``<dest>.part``, resumes with an HTTP
``Range`` request, is checked against a known MD5 (and size), and is only then
published with an atomic ``os.replace``: a file under its final name is always
complete and verified. Only the standard library is used (``urllib``), so
fetching data never needs extra dependencies.

Where the files come from is data, not code: each file is a frozen
:class:`RemoteFile` record, and every function takes its URL from the record it
is given, so tests (or a mirror) can substitute other records. Setting
``GA_SQUAD_MIRROR=http://host/dir`` makes :func:`fetch_all` fetch
``http://host/dir/<file name>`` instead of the official URL.

Command line::

    python -m ga_squad.launch.download DEST_DIR [--glove-dim 50|100|200|300] [--mirror URL]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import http.client
import logging
import os
import re
import shutil
import socket
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, TextIO

from ga_squad import __version__

logger = logging.getLogger(__name__)

MIRROR_ENV_VAR = "GA_SQUAD_MIRROR"
"""Environment variable naming a directory URL that holds all the files."""

GLOVE_DIMS: tuple[int, ...] = (50, 100, 200, 300)
"""Embedding sizes shipped in ``glove.6B.zip``."""

_OFFLINE_HINT = (
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

    Raised with a message that names the file and URL (and, for checksum
    failures, the expected and actual checksums) so the user can act on it
    without reading a traceback.
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


@dataclass(frozen=True)
class DatasetFiles:
    """The files :func:`fetch_all` needs: SQuAD train and dev, and GloVe.

    Attributes:
        train: SQuAD v1.1 training set (JSON).
        dev: SQuAD v1.1 development set (JSON).
        glove: Zip archive of GloVe vectors.
        glove_member: Name of the vectors file inside the archive, with a
            ``{dim}`` placeholder for the embedding size.
    """

    train: RemoteFile
    dev: RemoteFile
    glove: RemoteFile
    glove_member: str = "glove.6B.{dim}d.txt"

    def __post_init__(self) -> None:
        if "{dim}" not in self.glove_member:
            raise ValueError(f"glove_member needs a {{dim}} placeholder, got {self.glove_member!r}")

    def with_mirror(self, mirror: str) -> DatasetFiles:
        """Returns the same files, all fetched from ``<mirror>/<name>``."""
        return dataclasses.replace(
            self,
            train=self.train.with_mirror(mirror),
            dev=self.dev.with_mirror(mirror),
            glove=self.glove.with_mirror(mirror),
        )

    def glove_member_name(self, dim: int) -> str:
        """Returns the archive member holding ``dim``-sized vectors."""
        return self.glove_member.format(dim=dim)


# Checksums and sizes, cross-checked against several independent projects that
# pin the same files (torchtext, ParlAI, PaddleNLP, MindNLP for SQuAD; many
# GloVe download scripts for the zip; the 862182613-byte length also appears in
# wget logs of the Stanford server). Neither SQuAD nor GloVe publishes an
# official checksum, so these are community-verified, not upstream-signed.
_OFFICIAL_FILES = DatasetFiles(
    train=RemoteFile(
        name="train-v1.1.json",
        url="https://rajpurkar.github.io/SQuAD-explorer/dataset/train-v1.1.json",
        md5="981b29407e0affa3b1b156f72073b945",
        size=30_288_272,
    ),
    dev=RemoteFile(
        name="dev-v1.1.json",
        url="https://rajpurkar.github.io/SQuAD-explorer/dataset/dev-v1.1.json",
        md5="3e85deb501d4e538b6bc56f786231552",
        size=4_854_279,
    ),
    glove=RemoteFile(
        name="glove.6B.zip",
        # Redirects to downloads.cs.stanford.edu; urllib follows it and keeps
        # the Range header.
        url="https://nlp.stanford.edu/data/glove.6B.zip",
        md5="056ea991adb4740ac6bf1b6d9b50408b",
        size=862_182_613,
    ),
)


def official_files() -> DatasetFiles:
    """Returns the registry of official download locations and checksums."""
    return _OFFICIAL_FILES


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
        timeout_s: Socket timeout for connecting and for each read.
        chunk_size: Bytes read per ``read`` call.
        user_agent: Sent as ``User-Agent``; some hosts reject urllib's default.
    """

    retries: int = 4
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    timeout_s: float = 60.0
    chunk_size: int = 1 << 16
    user_agent: str = f"ga-squad/{__version__} (python-urllib)"

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


# --------------------------------------------------------------------------
# Progress bar
# --------------------------------------------------------------------------


def _human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    raise AssertionError("unreachable")


def format_progress(label: str, done: int, total: int | None, rate: float) -> str:
    """Formats one progress line: bytes done / total, percent and rate.

    Args:
        label: What is being downloaded (the file name).
        done: Bytes present so far, including any resumed prefix.
        total: Expected total bytes, or None when the server did not say.
        rate: Bytes per second transferred in this session.

    Returns:
        E.g. ``"dev-v1.1.json: 1.2 MiB / 4.6 MiB (26.1%) 3.0 MiB/s"``.
    """
    if total:
        pct = 100.0 * done / total
        return f"{label}: {_human_bytes(done)} / {_human_bytes(total)} ({pct:.1f}%) {_human_bytes(rate)}/s"
    return f"{label}: {_human_bytes(done)} {_human_bytes(rate)}/s"


class ProgressBar:
    """Throttled download progress written to a text stream.

    On a terminal the line is redrawn in place (``\\r``) a few times a second;
    on anything else (a log file, CI output, a test's StringIO) a plain line is
    written every ``interval_s`` seconds so logs stay readable. A final line
    is always written by :meth:`close`.
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        stream: TextIO,
        *,
        start: int = 0,
        interval_s: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Creates the bar; nothing is written until the first update.

        Args:
            label: Shown at the start of each line.
            total: Expected total bytes, or None if unknown.
            stream: Where to write.
            start: Bytes already present (resumed), excluded from the rate.
            interval_s: Minimum seconds between lines; defaults to 0.2 on a
                terminal and 10 otherwise.
            clock: Monotonic time source, injectable for tests.
        """
        self._label = label
        self._total = total
        self._stream = stream
        self._start = start
        self._done = start
        self._clock = clock
        self._tty = _isatty(stream)
        self._interval = interval_s if interval_s is not None else (0.2 if self._tty else 10.0)
        self._t0 = clock()
        self._last_write: float | None = None
        self._closed = False

    def _line(self) -> str:
        elapsed = max(self._clock() - self._t0, 1e-9)
        rate = (self._done - self._start) / elapsed
        return format_progress(self._label, self._done, self._total, rate)

    def _write(self, final: bool) -> None:
        line = self._line()
        if self._tty:
            self._stream.write("\r\x1b[K" + line + ("\n" if final else ""))
        else:
            self._stream.write(line + "\n")
        self._stream.flush()
        self._last_write = self._clock()

    def update(self, done: int) -> None:
        """Records that ``done`` bytes are present; writes if due."""
        self._done = done
        now = self._clock()
        if self._last_write is None and not self._tty:
            # First line on a non-tty only after one interval: short downloads
            # then print a single final line instead of two.
            due = now - self._t0 >= self._interval
        else:
            due = self._last_write is None or now - self._last_write >= self._interval
        if due:
            self._write(final=False)

    def close(self) -> None:
        """Writes the final line (once)."""
        if not self._closed:
            self._closed = True
            self._write(final=True)


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


# --------------------------------------------------------------------------
# Checksums and atomic publishing
# --------------------------------------------------------------------------


def file_md5(path: Path, chunk_size: int = 1 << 20) -> str:
    """Returns the lowercase hex MD5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def is_intact(path: Path, remote: RemoteFile) -> bool:
    """Returns whether ``path`` exists and has the expected size and MD5."""
    if not path.is_file():
        return False
    if remote.size is not None and path.stat().st_size != remote.size:
        return False
    return file_md5(path) == remote.md5


def _verify(path: Path, remote: RemoteFile) -> None:
    """Raises DownloadError (after deleting ``path``) unless it is intact."""
    size = path.stat().st_size
    actual = file_md5(path)
    size_ok = remote.size is None or size == remote.size
    if size_ok and actual == remote.md5:
        return
    path.unlink(missing_ok=True)
    expected_size = "unknown" if remote.size is None else str(remote.size)
    raise DownloadError(
        f"{remote.name}: checksum mismatch for data from {remote.url}: "
        f"expected md5 {remote.md5} ({expected_size} bytes), "
        f"got md5 {actual} ({size} bytes). The partial file was deleted; "
        "run again to retry, and check the URL or mirror if it keeps failing."
    )


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(directory: Path) -> None:
    # Makes the rename itself durable; not supported everywhere (Windows).
    try:
        _fsync_path(directory)
    except OSError:
        pass


def _publish(part: Path, dest: Path) -> None:
    """Atomically moves a complete, verified ``.part`` file to ``dest``."""
    _fsync_path(part)
    os.replace(part, dest)
    _fsync_dir(dest.parent)


def part_path(dest: Path) -> Path:
    """Returns where ``dest`` is written while incomplete."""
    return dest.with_name(dest.name + _PART_SUFFIX)


# --------------------------------------------------------------------------
# HTTP
# --------------------------------------------------------------------------


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


def _read_chunk(response: http.client.HTTPResponse, size: int) -> bytes:
    try:
        return response.read(size)
    except (OSError, http.client.HTTPException) as exc:
        raise _TransientError(f"connection failed while reading: {exc!r}") from exc


def _open(remote: RemoteFile, offset: int, options: DownloadOptions) -> http.client.HTTPResponse | None:
    """Sends the request; returns the response, or None on 416 at an offset.

    Raises:
        DownloadError: For permanent failures (404 and other 4xx, DNS).
        _TransientError: For failures worth retrying.
    """
    headers = {"User-Agent": options.user_agent, "Accept-Encoding": "identity"}
    if offset > 0:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(remote.url, headers=headers)
    opener = urllib.request.build_opener()
    try:
        return opener.open(request, timeout=options.timeout_s)
    except urllib.error.HTTPError as exc:
        exc.close()
        if exc.code == 416 and offset > 0:
            # Nothing beyond what we have: the partial file is complete (or
            # bogus); verification decides.
            return None
        if exc.code >= 500 or exc.code in _TRANSIENT_HTTP_CODES:
            raise _TransientError(f"HTTP {exc.code} {exc.reason}") from exc
        raise DownloadError(
            f"{remote.name}: HTTP {exc.code} {exc.reason} for {remote.url}. "
            "The file is not at that address; check the URL or the mirror "
            f"({MIRROR_ENV_VAR})."
        ) from exc
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, socket.gaierror):
            raise DownloadError(
                f"{remote.name}: cannot resolve the host of {remote.url} "
                f"({exc.reason}); is there no network? {_OFFLINE_HINT}"
            ) from exc
        raise _TransientError(f"cannot connect: {exc.reason!r}") from exc
    except (OSError, http.client.HTTPException) as exc:
        raise _TransientError(f"request failed: {exc!r}") from exc


def _attempt(remote: RemoteFile, part: Path, options: DownloadOptions, stream: TextIO) -> None:
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
    response = _open(remote, offset, options)
    if response is None:
        return
    with response:
        mode = "wb"
        if response.status == 206:
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
        length_header = response.headers.get("Content-Length")
        length = int(length_header) if length_header and length_header.isdigit() else None
        total = offset + length if length is not None else remote.size
        progress = ProgressBar(remote.name, total, stream, start=offset)
        received = 0
        try:
            with open(part, mode) as out:
                while chunk := _read_chunk(response, options.chunk_size):
                    out.write(chunk)
                    received += len(chunk)
                    progress.update(offset + received)
        finally:
            progress.close()
    if length is not None and received < length:
        raise _TransientError(f"connection closed after {received} of {length} bytes")


def _fetch_to_part(remote: RemoteFile, part: Path, options: DownloadOptions, stream: TextIO) -> None:
    """Retries :func:`_attempt` with exponential backoff until it succeeds."""
    failures = 0
    high_water = part.stat().st_size if part.exists() else 0
    while True:
        try:
            _attempt(remote, part, options, stream)
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
                    f"attempts in a row; last error: {exc}. {_OFFLINE_HINT}"
                ) from exc
            delay = options.backoff(failures)
            logger.warning(
                "%s: %s; retry %d of %d in %.1f s", remote.name, exc, failures, options.retries, delay
            )
            time.sleep(delay)


def download(
    remote: RemoteFile,
    dest_dir: Path | str,
    *,
    options: DownloadOptions | None = None,
    progress_stream: TextIO | None = None,
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
        progress_stream: Where the progress bar goes; ``sys.stderr`` if None.

    Returns:
        The path of the verified file.

    Raises:
        DownloadError: On a 404 or other permanent HTTP error, no network,
            retries exhausted, or a checksum mismatch (the ``.part`` file is
            then deleted and no file is published).
    """
    options = DownloadOptions() if options is None else options
    stream = sys.stderr if progress_stream is None else progress_stream
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
    _fetch_to_part(remote, part, options, stream)
    _verify(part, remote)
    _publish(part, dest)
    logger.info("downloaded %s (md5 ok)", dest)
    return dest


# --------------------------------------------------------------------------
# Zip extraction
# --------------------------------------------------------------------------


def _copy_member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, out: BinaryIO) -> None:
    with archive.open(info) as src:
        shutil.copyfileobj(src, out, 1 << 20)


def extract_member(archive_path: Path | str, member: str, dest: Path | str) -> Path:
    """Extracts one member of a zip archive to ``dest``, atomically.

    Skipped when ``dest`` already has the member's uncompressed size; since
    ``dest`` is only ever created by an atomic rename after a CRC-checked
    extraction, a file of the right size is a complete one.

    Args:
        archive_path: The zip file.
        member: Name of the member inside the archive.
        dest: Where to write it.

    Returns:
        ``dest`` as a Path.

    Raises:
        DownloadError: If the archive is corrupt or lacks the member.
    """
    archive_path, dest = Path(archive_path), Path(dest)
    part = part_path(dest)
    try:
        with zipfile.ZipFile(archive_path) as archive:
            try:
                info = archive.getinfo(member)
            except KeyError:
                names = ", ".join(archive.namelist()[:10])
                raise DownloadError(f"{archive_path} has no member {member!r} (it has: {names})") from None
            if dest.is_file():
                if dest.stat().st_size == info.file_size:
                    logger.info("%s already present at %s", member, dest)
                    return dest
                logger.warning("%s has the wrong size; extracting it again", dest)
            logger.info("extracting %s from %s", member, archive_path)
            with open(part, "wb") as out:
                _copy_member(archive, info, out)
    except zipfile.BadZipFile as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"cannot extract {member} from {archive_path}: {exc}") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    _publish(part, dest)
    return dest


# --------------------------------------------------------------------------
# Everything at once
# --------------------------------------------------------------------------


def fetch_all(
    dest_dir: Path | str,
    glove_dim: int = 100,
    files: DatasetFiles | None = None,
    progress_stream: TextIO | None = None,
    *,
    mirror: str | None = None,
    options: DownloadOptions | None = None,
) -> dict[str, Path]:
    """Downloads SQuAD train/dev and GloVe, and extracts one GloVe size.

    Args:
        dest_dir: Directory for all files (created if missing).
        glove_dim: Which vectors to extract: 50, 100, 200 or 300.
        files: Records to fetch; ``official_files()`` if None.
        progress_stream: Where progress bars go; ``sys.stderr`` if None.
        mirror: Fetch every file from ``<mirror>/<name>``; if None, the
            ``GA_SQUAD_MIRROR`` environment variable is used when set.
        options: Retry and timeout settings.

    Returns:
        ``{"train": ..., "dev": ..., "glove": ...}``: paths of the two SQuAD
        JSON files and of the extracted GloVe text file.

    Raises:
        ValueError: For an unsupported ``glove_dim``.
        DownloadError: See :func:`download` and :func:`extract_member`.
    """
    if glove_dim not in GLOVE_DIMS:
        raise ValueError(f"glove_dim must be one of {GLOVE_DIMS}, got {glove_dim}")
    files = official_files() if files is None else files
    mirror = mirror_from_env() if mirror is None else mirror
    if mirror:
        logger.info("using mirror %s", mirror)
        files = files.with_mirror(mirror)
    dest_dir = Path(dest_dir)
    dest_dir.mkdir(parents=True, exist_ok=True)
    paths = {
        "train": download(files.train, dest_dir, options=options, progress_stream=progress_stream),
        "dev": download(files.dev, dest_dir, options=options, progress_stream=progress_stream),
    }
    member = files.glove_member_name(glove_dim)
    glove_txt = dest_dir / member
    if glove_txt.is_file() and not (dest_dir / files.glove.name).exists():
        # The archive was deleted after extraction; the text file was published
        # atomically, so it is complete. Not worth 822 MiB to re-check.
        logger.info("%s already present at %s (archive absent, not re-checked)", member, glove_txt)
    else:
        archive = download(files.glove, dest_dir, options=options, progress_stream=progress_stream)
        extract_member(archive, member, glove_txt)
    paths["glove"] = glove_txt
    return paths


# --------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class DownloadConfig:
    """Settings of one command-line run.

    Attributes:
        dest_dir: Where to put the files.
        glove_dim: GloVe size to extract.
        mirror: Mirror base URL, or None for ``GA_SQUAD_MIRROR``/official.
    """

    dest_dir: Path
    glove_dim: int = 100
    mirror: str | None = None

    def __post_init__(self) -> None:
        if self.glove_dim not in GLOVE_DIMS:
            raise ValueError(f"glove_dim must be one of {GLOVE_DIMS}, got {self.glove_dim}")


def build_arg_parser() -> argparse.ArgumentParser:
    """Returns the parser for ``python -m ga_squad.launch.download``."""
    parser = argparse.ArgumentParser(
        prog="python -m ga_squad.launch.download",
        description="Download SQuAD v1.1 and GloVe 6B, verify MD5s, extract one GloVe size.",
    )
    parser.add_argument("dest_dir", type=Path, help="directory for the downloaded files")
    parser.add_argument("--glove-dim", type=int, choices=GLOVE_DIMS, default=100, help="GloVe size to extract")
    parser.add_argument(
        "--mirror",
        default=None,
        help=f"fetch <MIRROR>/<file name> instead of the official URLs (default: ${MIRROR_ENV_VAR})",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(cfg: DownloadConfig) -> int:
    """Runs :func:`fetch_all` for a command-line config.

    Returns:
        The process exit status: 0 on success, 1 on a download error.
    """
    try:
        paths = fetch_all(cfg.dest_dir, glove_dim=cfg.glove_dim, mirror=cfg.mirror)
    except DownloadError as exc:
        logger.error("%s", exc)
        return 1
    for key, path in paths.items():
        logger.info("%s: %s", key, path)
    return 0


def cli(argv: list[str] | None = None) -> int:
    """Parses arguments, sets up logging and runs :func:`main`.

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` if None.

    Returns:
        The process exit status.
    """
    args = build_arg_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    return main(DownloadConfig(dest_dir=args.dest_dir, glove_dim=args.glove_dim, mirror=args.mirror))


if __name__ == "__main__":
    sys.exit(cli())

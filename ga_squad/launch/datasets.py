"""The official SQuAD v1.1 and GloVe 6B files: where they are, and getting them all.

Why this module exists: a full-data search needs three files (SQuAD train and
dev JSON, the GloVe zip) plus one vectors file extracted from the zip. This
module holds the table of official locations and checksums as data (a frozen
:class:`DatasetFiles`), fetches them with :func:`ga_squad.launch.download.download`
and extracts the requested GloVe size. Tests and mirrors substitute other
records; ``GA_SQUAD_MIRROR=http://host/dir`` makes :func:`fetch_all` fetch
``http://host/dir/<file name>`` instead of the official URLs.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ga_squad.files import replace_durably
from ga_squad.launch.download import (
    DownloadError,
    DownloadOptions,
    RemoteFile,
    download,
    mirror_from_env,
    part_path,
)

logger = logging.getLogger(__name__)

GLOVE_DIMS: tuple[int, ...] = (50, 100, 200, 300)
"""Embedding sizes shipped in ``glove.6B.zip``."""


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
        # Redirects to downloads.cs.stanford.edu; requests follows it and
        # keeps the Range header.
        url="https://nlp.stanford.edu/data/glove.6B.zip",
        md5="056ea991adb4740ac6bf1b6d9b50408b",
        size=862_182_613,
    ),
)


def official_files() -> DatasetFiles:
    """Returns the registry of official download locations and checksums."""
    return _OFFICIAL_FILES


def extract_member(archive_path: Path | str, member: str, dest: Path | str) -> Path:
    """Extracts one member of a zip archive to ``dest``, atomically.

    Written to ``<dest>.part`` (the download folder's one convention for
    unfinished files, so a killed run leaves nothing a later run does not
    overwrite) and renamed with :func:`ga_squad.files.replace_durably` once
    zipfile's CRC check has passed. Skipped when ``dest`` already has the
    member's uncompressed size: since ``dest`` only ever appears through that
    rename, a file of the right size is a complete one.

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
            with archive.open(info) as src, open(part, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    except zipfile.BadZipFile as exc:
        part.unlink(missing_ok=True)
        raise DownloadError(f"cannot extract {member} from {archive_path}: {exc}") from exc
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    replace_durably(part, dest)
    return dest


def fetch_all(
    dest_dir: Path | str,
    glove_dim: int = 100,
    files: DatasetFiles | None = None,
    progress_stream: TextIO | None = None,
    *,
    mirror: str | None = None,
    options: DownloadOptions | None = None,
    quiet: bool = False,
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
        quiet: No progress bars.

    Returns:
        ``{"train": ..., "dev": ..., "glove": ...}``: paths of the two SQuAD
        JSON files and of the extracted GloVe text file.

    Raises:
        ValueError: For an unsupported ``glove_dim``.
        DownloadError: See :func:`~ga_squad.launch.download.download` and
            :func:`extract_member`.
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

    def fetch(remote: RemoteFile) -> Path:
        return download(remote, dest_dir, options=options, progress_stream=progress_stream, quiet=quiet)

    paths = {"train": fetch(files.train), "dev": fetch(files.dev)}
    member = files.glove_member_name(glove_dim)
    glove_txt = dest_dir / member
    if glove_txt.is_file() and not (dest_dir / files.glove.name).exists():
        # The archive was deleted after extraction; the text file was published
        # atomically, so it is complete. Not worth 822 MiB to re-check.
        logger.info("%s already present at %s (archive absent, not re-checked)", member, glove_txt)
    else:
        extract_member(fetch(files.glove), member, glove_txt)
    paths["glove"] = glove_txt
    return paths

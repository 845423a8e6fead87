"""``python -m ga_squad download DEST``: fetch SQuAD v1.1 and GloVe 6B, verified.

Downloads are resumable (run it again after an interruption) and checked
against known MD5s; one GloVe size is extracted from the zip. Offline, it
fails with one line that points at the bundled sample and ``GA_SQUAD_MIRROR``.

Example::

    python -m ga_squad download downloads/ --glove-dim 100
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ga_squad.launch.datasets import GLOVE_DIMS, fetch_all
from ga_squad.launch.download import MIRROR_ENV_VAR, DownloadError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DownloadConfig:
    """Settings of one command-line run.

    Attributes:
        dest_dir: Where to put the files.
        glove_dim: GloVe size to extract.
        mirror: Mirror base URL, or None for ``GA_SQUAD_MIRROR``/official.
        quiet: No progress bars.
    """

    dest_dir: Path
    glove_dim: int = 100
    mirror: str | None = None
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.glove_dim not in GLOVE_DIMS:
            raise ValueError(f"glove_dim must be one of {GLOVE_DIMS}, got {self.glove_dim}")


def build_arg_parser() -> argparse.ArgumentParser:
    """Returns the parser for ``python -m ga_squad download``."""
    parser = argparse.ArgumentParser(
        prog="python -m ga_squad download",
        description="Download SQuAD v1.1 and GloVe 6B, verify MD5s, extract one GloVe size.",
    )
    parser.add_argument("dest_dir", type=Path, help="directory for the downloaded files")
    parser.add_argument("--glove-dim", type=int, choices=GLOVE_DIMS, default=100, help="GloVe size to extract")
    parser.add_argument(
        "--mirror",
        default=None,
        help=f"fetch <MIRROR>/<file name> instead of the official URLs (default: ${MIRROR_ENV_VAR})",
    )
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    return parser


def main(cfg: DownloadConfig) -> int:
    """Runs :func:`~ga_squad.launch.datasets.fetch_all` for a command-line config.

    Returns:
        The process exit status: 0 on success, 1 when a file could not be
        downloaded, verified, extracted or written (reported in one line).
    """
    try:
        paths = fetch_all(cfg.dest_dir, glove_dim=cfg.glove_dim, mirror=cfg.mirror, quiet=cfg.quiet)
    except DownloadError as exc:
        logger.error("%s", exc)
        return 1
    except OSError as exc:  # e.g. DEST not writable, disk full
        logger.error("cannot write to %s: %s", cfg.dest_dir, exc)
        return 1
    for key, path in paths.items():
        print(f"{key}: {path}")
    return 0


def cli(argv: Sequence[str] | None = None) -> int:
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
    return main(DownloadConfig(dest_dir=args.dest_dir, glove_dim=args.glove_dim, mirror=args.mirror, quiet=args.quiet))


if __name__ == "__main__":
    sys.exit(cli())

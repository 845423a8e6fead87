"""``python -m ga_squad export``: a standalone copy of the best reader that ``predict`` loads anywhere.

::

    python -m ga_squad export runs/ --out best-reader/
    python -m ga_squad predict best-reader/ --question "Who ...?" --passage "..."

``PATH`` is what ``predict`` takes (a search folder, a storage root with
``--experiment``, an individual folder). The folder written holds
``reader.keras``, ``vocab.json``, ``reader.json`` (metadata) and a
``README.md`` (:mod:`ga_squad.reader.export`); it needs neither the search
folder nor the training data. The export is checked against its checkpoint
before it is published.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from pathlib import Path

from ga_squad.cli.common import (UserError, add_log_level, import_tensorflow, is_debug, log_level_of, run_command,
                                 setup_logging)

__all__ = ["cli"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ga_squad export",
        description="Write the best reader of a search (or one individual's) as a standalone folder.")
    p.add_argument("path", help="search folder, storage root of experiment folders, or an individual folder")
    p.add_argument("--out", required=True, help="folder to write reader.keras, vocab.json, reader.json, README.md")
    p.add_argument("--experiment", help="experiment id under a storage root (default: the latest search)")
    p.add_argument("--force", action="store_true", help="replace an export already in --out")
    add_log_level(p)
    return p


def _expected_errors(level: str) -> tuple[type[BaseException], ...]:
    """Errors that mean a bad input or a missing/damaged reader (named lazily: they import TensorFlow)."""
    import_tensorflow(is_debug(level))
    from ga_squad.reader.assets import AssetsError  # why here: only once something failed (see the docstring)
    from ga_squad.reader.bundle import ReaderNotFound  # why here: loads TensorFlow, as above
    from ga_squad.reader.checkpoint import CheckpointError  # why here: loads Keras, as above

    return ReaderNotFound, AssetsError, CheckpointError, FileExistsError


def check_out(out: str) -> None:
    """Refuse an ``--out`` that is (or lies under) a file, before anything loads: an export is a folder.

    Raises:
        UserError: naming the file in the way and what to do.
    """
    path = Path(out).expanduser()
    blocking = next((p for p in (path, *path.parents) if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise UserError(f"--out {out}: {blocking} exists and is a file, but an export is a folder (reader.keras, "
                        f"vocab.json, reader.json, README.md); choose another --out (e.g. best-reader/) or "
                        f"remove {blocking}")


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m ga_squad export PATH --out DIR``; returns the exit status."""
    raw = list(sys.argv[1:] if argv is None else argv)
    level = log_level_of(raw)

    def body() -> int:
        args = _parser().parse_args(raw)
        setup_logging(args.log_level)
        check_out(args.out)
        tf = import_tensorflow(is_debug(args.log_level))
        tf.config.experimental.enable_op_determinism()  # as in the trials and predict
        from ga_squad.reader.export import export_reader  # why here: loads TensorFlow, after --out is checked

        result = export_reader(args.path, args.out, experiment=args.experiment, overwrite=args.force)
        who = f"individual {result.indiv_id}" if result.indiv_id is not None else "reader"
        print(f"exported {who} to {result.out_dir} (checked against its checkpoint: largest logit "
              f"difference {result.max_abs_diff:.2g})")
        print(f"use it: python -m ga_squad predict {result.out_dir} --question \"...\" --passage \"...\"")
        return 0

    return run_command(body, level, expected=lambda: _expected_errors(level))


if __name__ == "__main__":
    sys.exit(cli())

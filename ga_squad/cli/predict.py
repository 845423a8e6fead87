"""``python -m ga_squad predict``: answer questions with a reader a search trained.

Two modes::

    python -m ga_squad predict runs/ --input dev.json --output predictions.json
    python -m ga_squad predict runs/ --question "Who ..." --passage "..."   # or --passage-file FILE

``PATH`` is a search folder (its best individual is used), a storage root of
experiment folders (the latest search, or ``--experiment``), one
individual's folder, or a folder ``python -m ga_squad export`` wrote
(:func:`ga_squad.reader.loader.load_reader`). The first
mode writes ``{question id: answer text}``, the format the official SQuAD
evaluation script reads, with a progress bar and the throughput; the second
prints the answer, its character offsets in the passage and its score.
Relative paths are taken from the working directory, wherever that is.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ga_squad.cli.common import (UserError, add_log_level, import_tensorflow, is_debug, log_level_of, run_command,
                                 setup_logging)

__all__ = ["PredictConfig", "cli", "main"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PredictConfig:
    """What ``predict`` was asked to do (built once from the command line).

    Attributes:
        reader_path: Search folder, storage root or individual folder.
        experiment: Experiment id under a storage root.
        input_path: SQuAD-format file to answer (file mode).
        output_path: Where to write the predictions (file mode).
        question: The question (single-question mode).
        passage: The passage text (single-question mode).
        progress: Show the progress bar.
        log_level: ``--log-level``.
    """

    reader_path: str
    experiment: str | None
    input_path: str | None
    output_path: str
    question: str | None
    passage: str | None
    progress: bool
    log_level: str


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ga_squad predict",
        description="Answer questions with the best reader of a search (or one individual's).")
    p.add_argument("path", help="search folder, storage root of experiment folders, an individual folder, "
                                "or an export folder (python -m ga_squad export)")
    p.add_argument("--experiment", help="experiment id under a storage root (default: the latest search)")
    f = p.add_argument_group("a SQuAD-format file")
    f.add_argument("--input", help="SQuAD v1.1 JSON file of questions (reference answers not needed)")
    f.add_argument("--output", default="predictions.json",
                   help="predictions file, {id: answer} (default: predictions.json)")
    f.add_argument("--no-progress", action="store_true", help="no progress bar")
    q = p.add_argument_group("one question")
    q.add_argument("--question", help="the question")
    q.add_argument("--passage", help="the passage to answer from")
    q.add_argument("--passage-file", help="read the passage from this UTF-8 text file")
    add_log_level(p)
    return p


def config_from_args(argv: Sequence[str] | None) -> PredictConfig:
    """Parse and check the command line.

    Raises:
        UserError: on a contradictory or incomplete choice of mode.
    """
    args = _parser().parse_args(argv)
    if args.input and (args.question or args.passage or args.passage_file):
        raise UserError("choose one mode: --input FILE, or --question with --passage/--passage-file")
    if not args.input and not args.question:
        raise UserError("nothing to answer: pass --input FILE (SQuAD JSON), or --question TEXT with "
                        "--passage TEXT or --passage-file FILE")
    passage = args.passage
    if args.question:
        if bool(args.passage) == bool(args.passage_file):
            raise UserError("--question needs exactly one of --passage TEXT or --passage-file FILE")
        if args.passage_file:
            try:
                passage = Path(args.passage_file).read_text(encoding="utf-8")
            except FileNotFoundError:
                raise UserError(f"passage file {args.passage_file} does not exist") from None
            except (OSError, UnicodeDecodeError) as exc:
                raise UserError(f"cannot read passage file {args.passage_file}: {exc}; "
                                f"pass a UTF-8 text file") from None
    if args.question is not None and not args.question.strip():
        raise UserError("the question is empty; pass --question TEXT")
    if args.question and not (passage or "").strip():
        raise UserError(f"the passage{' in ' + args.passage_file if args.passage_file else ''} is empty; "
                        f"pass --passage TEXT or --passage-file FILE with text")
    return PredictConfig(args.path, args.experiment, args.input, args.output, args.question, passage,
                         not args.no_progress, args.log_level)


def main(cfg: PredictConfig) -> int:
    """Load the reader and answer; returns the exit status."""
    from ga_squad.reader.inference import answer, predict_file, read_questions  # why here: nltk; --help needs none

    # A bad input fails now, before TensorFlow loads (seconds).
    questions = read_questions(cfg.input_path) if cfg.input_path is not None else None
    tf = import_tensorflow(is_debug(cfg.log_level))
    tf.config.experimental.enable_op_determinism()  # as in the trials; threads: TensorFlow's choice (all cores)
    from ga_squad.reader.loader import load_reader  # why here: loads TensorFlow, after the input is checked
    reader = load_reader(cfg.reader_path, experiment=cfg.experiment)
    who = f"individual {reader.indiv_id}" if reader.indiv_id is not None else str(reader.source.path)
    f1 = (reader.metrics or {}).get("f1")
    print(f"reader: {who} ({reader.source.path})" + (f", dev F1 {f1:.2f}" if isinstance(f1, float) else ""),
          file=sys.stderr)
    if cfg.input_path is not None:
        stats = predict_file(reader, cfg.input_path, cfg.output_path, progress=cfg.progress, questions=questions)
        print(f"answered {stats.questions} questions in {stats.seconds:.1f} s "
              f"({stats.questions_per_second:.1f} questions/s); predictions: {stats.output}")
        return 0
    assert cfg.question is not None and cfg.passage is not None
    result = answer(reader, cfg.question, cfg.passage)
    print(f"answer: {result.text}")
    print(f"characters: {result.start}-{result.end}")
    print(f"score: {result.score:.4f}")
    return 0


def _expected_errors(level: str) -> tuple[type[BaseException], ...]:
    """Errors that mean a bad input or a missing/damaged reader (named lazily: they import TensorFlow)."""
    import_tensorflow(is_debug(level))
    from ga_squad.reader.assets import AssetsError  # why here: only once something failed (see the docstring)
    from ga_squad.reader.bundle import ReaderNotFound  # why here: loads TensorFlow, as above
    from ga_squad.reader.checkpoint import CheckpointError  # why here: loads Keras, as above
    from ga_squad.reader.inference import PredictInputError  # why here: as above

    return ReaderNotFound, PredictInputError, AssetsError, CheckpointError


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m ga_squad predict PATH (--input FILE | --question Q --passage P)``; returns the exit status."""
    raw = list(sys.argv[1:] if argv is None else argv)
    level = log_level_of(raw)

    def body() -> int:
        cfg = config_from_args(raw)
        setup_logging(cfg.log_level)
        return main(cfg)

    return run_command(body, level, expected=lambda: _expected_errors(level))


if __name__ == "__main__":
    sys.exit(cli())

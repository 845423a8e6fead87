"""What every ``python -m ga_squad`` command shares: logging, quiet TensorFlow, one-line errors.

A user who mistypes a path should read one line naming the cause and the fix,
not a traceback; a developer passes ``--log-level debug`` and gets the
traceback back. TensorFlow prints a screenful at start-up (oneDNN, CPU
features, absl) *before* its logging can be configured, from C++ straight to
file descriptor 2, so neither ``TF_CPP_MIN_LOG_LEVEL`` alone nor Python
logging silences it: :func:`import_tensorflow` points descriptor 2 at a
temporary file while TensorFlow loads and shows what was caught only if the
import fails. Nothing here changes numerics (oneDNN stays on, as in the
trials).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import tempfile
import traceback
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TextIO

__all__ = [
    "LOG_LEVELS",
    "UserError",
    "add_log_level",
    "import_tensorflow",
    "is_debug",
    "log_level_of",
    "one_line",
    "quiet_tensorflow",
    "run_command",
    "setup_logging",
]

LOG_LEVELS = ("debug", "info", "warning", "error")


class UserError(Exception):
    """A mistake of the user or the environment; its message names the cause and the fix."""


def add_log_level(parser: argparse.ArgumentParser, default: str = "warning") -> None:
    """``--log-level``; ``debug`` also keeps tracebacks and TensorFlow's start-up messages."""
    parser.add_argument("--log-level", default=default, type=str.lower, choices=LOG_LEVELS,
                        help=f"logging level (default {default}); debug also shows tracebacks "
                             "and TensorFlow's start-up messages")


def is_debug(level: str) -> bool:
    return level.lower() == "debug"


def setup_logging(level: str) -> None:
    """Plain ``LEVEL name: message`` lines on stderr at ``level``."""
    logging.basicConfig(level=level.upper(), format="%(levelname)s %(name)s: %(message)s", force=True)


def quiet_tensorflow(debug: bool = False) -> None:
    """Silence TensorFlow's and absl's Python-side logging (call before importing TensorFlow).

    ``TF_CPP_MIN_LOG_LEVEL`` covers the C++ messages printed after absl is
    initialised; :func:`import_tensorflow` covers those printed before.
    """
    if debug:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    for name in ("tensorflow", "absl", "h5py"):
        logging.getLogger(name).setLevel(logging.ERROR)
    with contextlib.suppress(ImportError):
        from absl import logging as absl_logging  # why here: absl comes with TensorFlow; --help must not load it

        absl_logging.set_verbosity(absl_logging.ERROR)


@contextlib.contextmanager
def _stderr_fd_captured() -> Iterator[TextIO]:
    """Point file descriptor 2 at a temporary file for the duration (C++ writes go there too)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+", encoding="utf-8", errors="replace") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield sink
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow(debug: bool = False) -> Any:
    """Import TensorFlow (and Keras) with their start-up noise hidden unless ``debug``.

    Returns:
        The ``tensorflow`` module.
    """
    quiet_tensorflow(debug)
    if debug or "tensorflow" in sys.modules:
        import keras  # noqa: F401  # why here: this function is where a command loads TensorFlow, quietly
        import tensorflow as tf  # why here: as above

        return tf
    with _stderr_fd_captured() as sink:
        try:
            import keras  # noqa: F401  # why here: as above, with its start-up noise captured
            import tensorflow as tf  # why here: as above
        except BaseException:
            failed = True
        else:
            failed = False
        sink.seek(0)
        caught = sink.read()
    if failed:
        sys.stderr.write(caught)
        import tensorflow as tf  # why here: as above; raises the same error, now with its messages visible
    return tf


def log_level_of(argv: Sequence[str], default: str = "warning") -> str:
    """The ``--log-level`` in ``argv`` (before the full parse, which may itself fail)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--log-level", default=default, type=str.lower)
    level = pre.parse_known_args(list(argv))[0].log_level
    return level if level in LOG_LEVELS else default


Expected = tuple[type[BaseException], ...]


def run_command(main: Callable[[], int], level: str, expected: Expected | Callable[[], Expected] = ()) -> int:
    """Run a command's body; expected errors become one ``error: ...`` line (exit 1).

    Args:
        main: The command; returns its exit status.
        level: The ``--log-level`` given (``debug`` also prints the traceback).
        expected: Exceptions that mean a user or environment problem, besides
            :class:`UserError`, ``FileNotFoundError`` and ``PermissionError``;
            or a function returning them, called only when something is
            raised (so naming them need not import TensorFlow early).

    Returns:
        The exit status: ``main``'s, 1 for an expected error, 130 on Ctrl-C.
    """
    try:
        return main()
    except KeyboardInterrupt:
        if is_debug(level):
            traceback.print_exc()
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        if not isinstance(exc, (UserError, FileNotFoundError, PermissionError)) and not isinstance(
                exc, expected() if callable(expected) else expected):
            raise
        if is_debug(level):
            traceback.print_exc()
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1


def one_line(exc: BaseException) -> str:
    """The exception's message on one line (the OS's wording for a bare ``OSError``)."""
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        text = f"{exc.filename}: {exc.strerror}"
    else:
        text = str(exc) or type(exc).__name__
    return " ".join(text.split())

"""``ga-squad <command>`` (or ``python -m ga_squad <command>``): the user-facing entry points.

* ``run``      run a search through NNI and print the leaderboard (the main job)
* ``report``   leaderboard, figures and summary of a finished or running search
* ``download`` fetch SQuAD v1.1 and GloVe (resumable, checksummed)
* ``predict``  answer questions (a SQuAD file, or one question and passage) with the best reader
* ``export``   write the best reader as a standalone folder (``reader.keras`` + vocabularies) for ``predict``

Each command's module parses its own arguments, so ``--help`` works per command.
``ga-squad`` is the console script of the package install (``make setup``:
``pip install -e .``); both forms work from any directory.
"""

from __future__ import annotations

import importlib
import os
import sys

COMMANDS = {
    "run": "ga_squad.cli.run",
    "report": "ga_squad.cli.report",
    "download": "ga_squad.cli.download",
    "predict": "ga_squad.cli.predict",
    "export": "ga_squad.cli.export",
}


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help"} or argv[0] not in COMMANDS:
        prog = "ga-squad" if os.path.basename(sys.argv[0]) == "ga-squad" else "python -m ga_squad"
        usage = f"usage: {prog} {{" + ",".join(COMMANDS) + "} [options]\n" + (__doc__ or "")
        if argv and argv[0] not in {"-h", "--help"}:
            print(f"unknown command {argv[0]!r}\n{usage}", file=sys.stderr)
            return 2
        print(usage)
        return 0 if argv else 2
    module = importlib.import_module(COMMANDS[argv[0]])
    return int(module.cli(argv[1:]) or 0)


if __name__ == "__main__":
    sys.exit(main())

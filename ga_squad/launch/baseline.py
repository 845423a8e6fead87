"""Compute a search's equal-compute baseline with the search's own trial command.

The baseline must see exactly the data, model size and optimiser settings the
trials saw, and those live in ``trialCommand`` (``trial/trial.py --size tiny
--epochs 2 --glove ...``). Rather than re-parse that command here, the
baseline *is* that command with ``--equal-compute-baseline TRIALS`` appended:
the trial script's own parser builds the configuration, trains the reader
(or reads the cached curve) and writes the outcome into the search folder.

Only for the local platform: on remote machines the command's paths belong to
another filesystem (the printed command can be run there by hand).
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
from pathlib import Path

from ga_squad.analysis.baseline import BASELINE_FILE, BaselineOutcome, load_outcome
from ga_squad.launch.config import LaunchConfig
from ga_squad.search.space import SearchSpace

__all__ = ["BaselineUnavailable", "baseline_command", "baseline_reader", "run_baseline"]

_logger = logging.getLogger(__name__)


class BaselineUnavailable(RuntimeError):
    """The baseline cannot be computed for this config (the reason is the message)."""


def baseline_reader(launch: LaunchConfig) -> str:
    """The preset a user would train without a search: the first one the search seeds from (default base)."""
    space = (launch.get("tuner", "classArgs") or {}).get("search_space") or {}
    return SearchSpace.from_dict(space).presets[0]


def baseline_command(launch: LaunchConfig, search_root: Path) -> list[str]:
    """``trialCommand`` + the baseline options (raises :class:`BaselineUnavailable` when impossible)."""
    if launch.platforms != {"local"}:
        raise BaselineUnavailable("the trials run on another platform; its data paths are not this machine's")
    command = launch.get("trialCommand")
    trials = launch.max_trial_number
    if not isinstance(command, str) or "trial.py" not in command:
        raise BaselineUnavailable("trialCommand does not run trial/trial.py")
    if not trials:
        raise BaselineUnavailable("the config sets no maxTrialNumber, so the search's budget is unknown")
    argv = shlex.split(command)
    if "--preset" not in argv and "--graph" not in argv:
        argv += ["--preset", baseline_reader(launch)]
    # The search has ended: the baseline may use every core (a later --threads wins in argparse).
    return argv + ["--standalone", "--equal-compute-baseline", str(trials),
                   "--baseline-out", str(search_root / BASELINE_FILE), "--threads", str(os.cpu_count() or 1)]


def run_baseline(launch: LaunchConfig, search_root: Path, timeout_s: float | None = None) -> BaselineOutcome:
    """Run the baseline command in the trial code directory; its outcome as stored in ``search_root``."""
    argv = baseline_command(launch, search_root)
    cwd = launch.get("trialCodeDirectory") or "."
    _logger.info("equal-compute baseline: %s (in %s)", shlex.join(argv), cwd)
    done = subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s,
                          env={**os.environ, **launch.env} if launch.env else None)
    outcome = load_outcome(search_root) if done.returncode == 0 else None
    if outcome is None:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-5:])
        raise BaselineUnavailable(f"the baseline command failed (exit {done.returncode}): {tail}")
    return outcome

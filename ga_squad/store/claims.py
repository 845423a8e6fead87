"""Which trial job took which individual: a claim file the trial writes when it takes its parameters.

NNI 3.0's local service hands parameters to trials first-come first-served,
so a trial may run another trial's individual, and a trial that fails before
reporting leaves no result saying which one it ran. Right after
``nni.get_next_parameter()`` a trial therefore drops an empty marker
``<save_dir>/.ran-by-<trial job id>`` into the save dir of the individual it
took (:func:`claim`). When that trial's end arrives, the tuner finds the
individual by its claim (:func:`claimed_by`) instead of trusting the end's
parameter id. A trial that exits before taking parameters claims nothing,
and its form's individual, whose parameters are then run by a later trial,
is not failed for it.

Claims are a few bytes each and stay with the individual (they are part of
its history, like the predictions).
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

_logger = logging.getLogger(__name__)

__all__ = ["claim", "claimed_by"]

_PREFIX = ".ran-by-"
_SAFE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")


def claim(save_dir: str | os.PathLike[str], trial_job_id: str | None) -> None:
    """Record that ``trial_job_id`` took the individual owning ``save_dir`` (no-op without a job id).

    Never raises: a claim only sharpens the tuner's attribution of a failure.
    """
    if not trial_job_id or not _SAFE.match(trial_job_id):
        return
    try:
        Path(save_dir).mkdir(parents=True, exist_ok=True)
        (Path(save_dir) / f"{_PREFIX}{trial_job_id}").touch()
    except OSError as exc:
        _logger.warning("could not record that trial %s runs %s: %s", trial_job_id, save_dir, exc)


def claimed_by(save_dir: str | os.PathLike[str]) -> set[str]:
    """Trial job ids that took the individual owning ``save_dir``."""
    try:
        names = os.listdir(save_dir)
    except OSError:
        return set()
    return {n[len(_PREFIX):] for n in names if n.startswith(_PREFIX)}

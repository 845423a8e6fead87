"""Starting NNI's tuner: refuse a held experiment before NNI starts, retry a resume that missed NNI's deadline.

NNI 3.0 reports every tuner that does not come up as "Tuner did not connect in
10 seconds" (``nni_node/core/tuner_command_channel.js``: a fixed timer from the
manager's start, not configurable), whatever the cause. ``run`` tells two
causes apart itself:

* **another tuner holds the experiment** (:mod:`ga_squad.store.lock`): the
  new tuner is refused and NNI would show only the timeout, the holder's name
  landing in ``dispatcher.log``. :func:`check_tuner_lock` asks the lock before
  NNI starts and names the holder.
* **the tuner was too slow**: on a loaded machine the dispatcher's imports
  alone (NNI's own ``nni.mutable`` pulls in ``scipy.stats``: about 2 of its 3 s
  at idle) can pass 10 s. Nothing of the search has happened then (the tuner
  never connected), so :func:`resume_retrying` stops the experiment and
  resumes it again, saying so, up to ``attempts`` times.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ga_squad.launch.experiment import Experiment, ExperimentError, Launchable
from ga_squad.store.lock import ExperimentLock, ExperimentLocked
from ga_squad.store.paths import SearchLayout

_logger = logging.getLogger(__name__)

__all__ = ["DEADLINE_MESSAGE", "TunerStart", "check_tuner_lock", "dispatcher_log", "log_offsets", "resume_retrying",
           "tuner_error", "watch_tuner_start"]

DEADLINE_MESSAGE = "did not connect"
"""What NNI's manager says (in check-status errors) when the tuner missed its 10 s deadline."""
_STARTED = "Dispatcher started"  # NNI's dispatcher logs it once connected (INFO, dispatcher.log)


def check_tuner_lock(storage_root: Path | None, experiment_id: str | None) -> None:
    """Raise if a live tuner already holds ``<storage_root>/<experiment_id>``; nothing to check without both.

    Raises:
        ExperimentError: naming the holder (pid, host) and the lock file.
    """
    if storage_root is None or not experiment_id:
        return
    try:
        ExperimentLock(SearchLayout.for_experiment(storage_root, experiment_id).root).check()
    except ExperimentLocked as exc:
        raise ExperimentError(f"cannot start the tuner: {exc}") from None


@dataclass(frozen=True)
class TunerStart:
    """How a tuner's start went.

    Attributes:
        connected: It connected to NNI's manager (or the experiment moved on
            without saying otherwise within the watch).
        missed_deadline: NNI gave up waiting for it (its 10 s deadline).
        error: The tuner's own error (the last line of its traceback in
            ``dispatcher.log``), or NNI's, when it failed for another reason.
    """

    connected: bool
    missed_deadline: bool = False
    error: str | None = None


def dispatcher_log(experiment: Experiment) -> Path:
    """NNI's log of the tuner process of ``experiment``."""
    return experiment.directory / "log" / "dispatcher.log"


def _logs(directory: Path) -> tuple[Path, Path]:
    """The tuner's log, and the manager's stderr (where a tuner that raises prints its traceback)."""
    return directory / "log" / "dispatcher.log", directory / "log" / "nnictl_stderr.log"


def log_offsets(directory: Path) -> dict[Path, int]:
    """Sizes of the tuner's logs now: a resumed experiment's logs hold its earlier sessions."""
    offsets = {}
    for path in _logs(directory):
        try:
            offsets[path] = path.stat().st_size
        except OSError:
            offsets[path] = 0
    return offsets


def _read_from(path: Path, offset: int) -> str:
    try:
        with path.open("rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", errors="replace")
    except OSError:
        return ""


def tuner_error(log: str) -> str | None:
    """The error of a tuner that failed while NNI built it (its class, imports or ``classArgs``), or None.

    That is a traceback through NNI's ``_create_algo``: a tuner that was only
    slow, and failed to talk to a manager that had given up on it, is not one.
    """
    for block in reversed(log.split("Traceback (most recent call last)")[1:]):
        if "_create_algo" not in block:
            continue
        lines = [line.strip() for line in block.splitlines() if line.strip() and not line.startswith((" ", "\t"))]
        if lines:
            return lines[-1]
    return None


def watch_tuner_start(experiment: Experiment, offsets: dict[Path, int] | None = None, timeout: float = 60.0,
                      poll: float = 0.5) -> TunerStart:
    """Watch a just-started experiment until its tuner connected, failed, or missed NNI's deadline.

    Args:
        experiment: Started by ``nnictl create``/``resume`` a moment ago.
        offsets: :func:`log_offsets` before the start (None: read the logs whole).
        timeout: Give up watching after this many seconds and report
            ``connected`` (NNI's deadline is 10 s; this is generous for a loaded machine).
        poll: Seconds between looks.
    """
    offsets = offsets or {}
    dispatcher, stderr = _logs(experiment.directory)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        # A tuner that connects after the deadline logs "started" too, but NNI set ERROR before it
        # connected (its timer fired first): so the status is read after the log, and decides.
        started = _STARTED in _read_from(dispatcher, offsets.get(dispatcher, 0))
        try:
            check = experiment.check_status()
        except ExperimentError:
            check = {}
        status = str(check.get("status"))
        if started and status != "ERROR":
            return TunerStart(connected=True)
        if status == "ERROR":
            text = _read_from(dispatcher, offsets.get(dispatcher, 0)) + _read_from(stderr, offsets.get(stderr, 0))
            errors = " ".join(str(e) for e in check.get("errors") or [])
            failed = tuner_error(text)
            if failed is not None:
                return TunerStart(connected=False, error=failed)
            if DEADLINE_MESSAGE in errors:
                return TunerStart(connected=False, missed_deadline=True)
            return TunerStart(connected=False, error=errors or "NNI reported ERROR")
        if status in ("DONE", "STOPPED", "NO_MORE_TRIAL", "TUNER_NO_MORE_TRIAL"):
            return TunerStart(connected=True)
        time.sleep(poll)
    _logger.info("experiment %s: no sign of the tuner in %.0f s; assuming it connected", experiment.id, timeout)
    return TunerStart(connected=True)


def resume_retrying(spec: Launchable, experiment_id: str, port: int | None = None, attempts: int = 3,
                    say: Callable[[str], None] = print, timeout: float = 60.0) -> Experiment:
    """``nnictl resume`` ``experiment_id``; if its tuner misses NNI's 10 s deadline, stop and resume again.

    Args:
        spec: The experiment's config (its working directory holds the experiment).
        experiment_id: The stopped experiment.
        port: REST/web UI port (None: a free one each time).
        attempts: Resumes in all.
        say: Where the user is told about a retry.
        timeout: Seconds to watch each start (:func:`watch_tuner_start`).

    Returns:
        The running experiment, its tuner connected.

    Raises:
        ExperimentError: if the tuner failed for another reason (its own error
            named), or missed the deadline ``attempts`` times.
    """
    for attempt in range(1, attempts + 1):
        directory = spec.working_directory / experiment_id
        offsets = log_offsets(directory)
        experiment = Experiment.resume(spec, experiment_id, port=port)
        start = watch_tuner_start(experiment, offsets, timeout=timeout)
        if start.connected:
            return experiment
        experiment.stop()
        if start.error is not None:
            raise ExperimentError(f"experiment {experiment_id}: the tuner did not start: {start.error} "
                                  f"(details: {directory / 'log'})")
        if attempt == attempts:
            raise ExperimentError(
                f"experiment {experiment_id}: the tuner missed NNI's fixed 10 s connect deadline {attempts} "
                f"times (the machine is too loaded for it to import in time); it is stopped: resume it when the "
                f"load drops")
        say(f"the tuner of experiment {experiment_id} missed NNI's fixed 10 s connect deadline (a loaded "
            f"machine: its start took longer); nothing was lost, resuming it again (attempt {attempt + 1} "
            f"of {attempts})")
    raise AssertionError("unreachable")

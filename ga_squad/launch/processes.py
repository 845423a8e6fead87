"""Find and end the processes of one NNI experiment (and nothing else), with psutil.

The match is narrow on purpose, because :meth:`Experiment.stop
<ga_squad.launch.experiment.Experiment.stop>` signals what it finds: NNI's
manager (an ``nni_node`` command line naming the id), trials and their
children (``NNI_EXP_ID=<id>`` in their environment) and the tuner/dispatcher
(``SDK_PROCESS=dispatcher`` in its environment, working directory inside the
experiment's folder). A shell or viewer that merely sits in the experiment's
folder is not matched, and neither is another experiment's process.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

import psutil

_logger = logging.getLogger(__name__)

__all__ = ["end_processes", "experiment_processes", "find_experiment_processes"]

_GONE = (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess)


def _is_manager(cmdline: list[str], experiment_id: str) -> bool:
    joined = "\0".join(cmdline)
    return "nni_node" in joined and experiment_id in joined


def _is_trial_or_dispatcher(proc: psutil.Process, experiment_id: str, experiment_dir: Path | None) -> bool:
    environ = proc.environ()
    if environ.get("NNI_EXP_ID") == experiment_id:
        return True
    if experiment_dir is None or environ.get("SDK_PROCESS") != "dispatcher":
        return False
    cwd = Path(proc.cwd())
    return cwd == experiment_dir or experiment_dir in cwd.parents


def find_experiment_processes(experiment_id: str, experiment_dir: Path | None = None) -> list[psutil.Process]:
    """Live processes NNI started for ``experiment_id`` (see the module docstring), by pid.

    Args:
        experiment_id: NNI's experiment id.
        experiment_dir: ``<experimentWorkingDirectory>/<id>``; without it the
            dispatcher (which NNI gives no ``NNI_EXP_ID``) is not found.
    """
    if experiment_dir is not None:
        experiment_dir = Path(experiment_dir).resolve()
    own = os.getpid()
    found: list[psutil.Process] = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        info = proc.info
        if info["pid"] == own or info["status"] == psutil.STATUS_ZOMBIE:
            continue  # a zombie is already dead, waiting to be reaped by its parent
        try:
            if _is_manager(info["cmdline"] or [], experiment_id) or \
                    _is_trial_or_dispatcher(proc, experiment_id, experiment_dir):
                found.append(proc)
        except _GONE:
            continue
    return sorted(found, key=lambda p: p.pid)


def experiment_processes(experiment_id: str, experiment_dir: Path | None = None) -> list[int]:
    """Pids of :func:`find_experiment_processes` (``[]`` once the experiment is fully stopped)."""
    return [proc.pid for proc in find_experiment_processes(experiment_id, experiment_dir)]


def end_processes(experiment_id: str, experiment_dir: Path | None, grace: float = 2.0) -> list[int]:
    """SIGTERM, then SIGKILL, the experiment's surviving processes; returns pids still alive.

    psutil's ``Process`` remembers each process's start time, so a pid reused
    by an unrelated process in the meantime is never signalled.
    """
    for action in ("terminate", "kill"):
        survivors = find_experiment_processes(experiment_id, experiment_dir)
        if not survivors:
            return []
        _logger.warning("experiment %s: %s surviving pids %s", experiment_id, action,
                        [p.pid for p in survivors])
        for proc in survivors:
            try:
                getattr(proc, action)()
            except _GONE:
                pass
        psutil.wait_procs(survivors, timeout=grace)
    return experiment_processes(experiment_id, experiment_dir)

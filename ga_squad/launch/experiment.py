"""Launch, watch and always stop an NNI experiment through ``nnictl``.

The test suite, the end-to-end test and the user-facing run script all start
searches the same way: write an NNI v2 config, ``nnictl create`` it on a free
port in its own working directory, poll NNI's REST API (through
:class:`~ga_squad.launch.rest.NniRestClient`) until the experiment is DONE (or
a timeout), and ``nnictl stop`` it -- also when anything goes wrong, and then
check that no process of the experiment survives
(:mod:`ga_squad.launch.processes`).

What is launched is anything with a ``working_directory``, an ``env`` and a
``write_config(path)``: :class:`ExperimentSpec` builds a config in code (tests,
benchmarks); :class:`ga_squad.launch.config.LaunchConfig` is a user's YAML as
loaded by NNI's own config classes (``python -m ga_squad run``).

This module does not import NNI (only runs its command-line tool), so it can
be used from environments where importing NNI is unwanted.

Example::

    spec = ExperimentSpec(
        trial_command=f"{sys.executable} trial/trial.py --size tiny --storage-root /shared/ga",
        trial_code_directory=repo,
        tuner_code_directory=repo,
        tuner_class_args={"save_dir_root": "/shared/ga", "population_size": 8},
        working_directory=Path("runs/nni"),
        trial_concurrency=2, max_trial_number=20,
    )
    with Experiment.create(spec) as experiment:
        status = experiment.wait(timeout=3600, on_progress=print)
        trials = experiment.trials()
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from ga_squad.launch.bind import manager_env
from ga_squad.launch.processes import end_processes, experiment_processes
from ga_squad.launch.rest import NniRestClient, NniRestError

_logger = logging.getLogger(__name__)

__all__ = [
    "Experiment",
    "ExperimentError",
    "ExperimentSpec",
    "ExperimentTimeout",
    "Launchable",
    "Progress",
    "TERMINAL_STATUSES",
    "experiment_processes",
    "free_port",
    "nnictl_command",
]

TERMINAL_STATUSES = frozenset({"DONE", "ERROR", "STOPPED", "NO_MORE_TRIAL_ERROR"})
_ID_PATTERN = re.compile(r"experiment id is\s+(\w+)", re.IGNORECASE)


class ExperimentError(RuntimeError):
    """nnictl failed, the REST API did not answer, or the experiment ended in ERROR."""


class ExperimentTimeout(ExperimentError):
    """The experiment was still running when the wait ran out."""


class Launchable(Protocol):
    """What :meth:`Experiment.create` launches."""

    @property
    def working_directory(self) -> Path: ...

    @property
    def env(self) -> Mapping[str, str]: ...

    def write_config(self, path: str | os.PathLike[str]) -> Path: ...


@dataclass(frozen=True)
class ExperimentSpec:
    """Everything needed to start one ga-squad search under NNI (local training service).

    Attributes:
        trial_command: Command each trial runs (in ``trial_code_directory``).
        trial_code_directory: The trial's working directory.
        tuner_code_directory: Directory on ``sys.path`` for the tuner (the
            repository root for ``tuner.ga_tuner.GaSquadTuner``).
        tuner_class_args: classArgs of the tuner (see ``tuner/ga_tuner.py``).
        working_directory: NNI's ``experimentWorkingDirectory`` (its database,
            logs and trial outputs).
        tuner_class_name: Qualified class name of the tuner.
        trial_concurrency: Trials run at once.
        max_trial_number: Trials in total (None: unbounded).
        max_experiment_duration: NNI duration string such as ``"30m"`` (None: unbounded).
        experiment_name: Shown in the web UI.
        trial_gpu_number: GPUs per trial (0: CPU only).
        use_active_gpu: NNI's ``useActiveGpu`` (None: not set, NNI's default;
            NNI requires it when ``trial_gpu_number`` > 0).
        log_level: NNI's log level.
        env: Extra environment for ``nnictl`` (inherited by NNI's manager,
            tuner and trials), e.g. ``{"HOME": tmp}`` to keep nnictl's
            experiment registry out of the user's home in tests.
    """

    trial_command: str
    trial_code_directory: Path
    tuner_code_directory: Path
    tuner_class_args: Mapping[str, Any]
    working_directory: Path
    tuner_class_name: str = "tuner.ga_tuner.GaSquadTuner"
    trial_concurrency: int = 1
    max_trial_number: int | None = None
    max_experiment_duration: str | None = None
    experiment_name: str = "ga-squad"
    trial_gpu_number: int = 0
    use_active_gpu: bool | None = None
    log_level: str = "info"
    env: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.trial_concurrency < 1:
            raise ValueError(f"trial_concurrency must be >= 1, got {self.trial_concurrency}")
        if self.max_trial_number is not None and self.max_trial_number < 1:
            raise ValueError(f"max_trial_number must be >= 1, got {self.max_trial_number}")
        object.__setattr__(self, "trial_code_directory", Path(self.trial_code_directory).resolve())
        object.__setattr__(self, "tuner_code_directory", Path(self.tuner_code_directory).resolve())
        object.__setattr__(self, "working_directory", Path(self.working_directory).resolve())

    def to_config(self) -> dict[str, Any]:
        """The NNI v2 experiment config (as a dict; JSON is valid YAML)."""
        config: dict[str, Any] = {
            "experimentName": self.experiment_name,
            "searchSpace": {},
            "trialCommand": self.trial_command,
            "trialCodeDirectory": str(self.trial_code_directory),
            "trialConcurrency": self.trial_concurrency,
            "trialGpuNumber": self.trial_gpu_number,
            "experimentWorkingDirectory": str(self.working_directory),
            "logLevel": self.log_level,
            "tuner": {
                "codeDirectory": str(self.tuner_code_directory),
                "className": self.tuner_class_name,
                "classArgs": dict(self.tuner_class_args),
            },
            "trainingService": {"platform": "local"},
        }
        if self.use_active_gpu is not None:
            config["trainingService"]["useActiveGpu"] = self.use_active_gpu
        if self.max_trial_number is not None:
            config["maxTrialNumber"] = self.max_trial_number
        if self.max_experiment_duration is not None:
            config["maxExperimentDuration"] = self.max_experiment_duration
        return config

    def write_config(self, path: str | os.PathLike[str]) -> Path:
        """Write :meth:`to_config` as JSON (which is YAML) for ``nnictl create``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_config(), indent=2, sort_keys=True), encoding="utf-8")
        return path


@dataclass(frozen=True)
class Progress:
    """One poll of a running experiment (what ``on_progress`` receives)."""

    status: str
    elapsed: float
    trials_by_status: Mapping[str, int]


def free_port() -> int:
    """A TCP port free right now on localhost (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def nnictl_command() -> list[str]:
    """The ``nnictl`` of this Python environment (next to the interpreter), else from PATH."""
    local = Path(sys.executable).with_name("nnictl")
    if local.is_file():
        return [str(local)]
    found = shutil.which("nnictl")
    if found:
        return [found]
    return [sys.executable, "-m", "nni.tools.nnictl.nnictl"]


class Experiment:
    """A running NNI experiment; use :meth:`create` or :meth:`resume`, preferably in ``with``.

    Leaving the ``with`` block always stops the experiment and checks that
    none of its processes survive.
    """

    def __init__(self, spec: Launchable, experiment_id: str, port: int) -> None:
        self.spec = spec
        self.id = experiment_id
        self.port = port
        self.rest = NniRestClient(port)
        self._stopped = False

    @property
    def directory(self) -> Path:
        """NNI's folder of this experiment: ``<experimentWorkingDirectory>/<id>``."""
        return self.spec.working_directory / self.id

    # --- lifecycle ----------------------------------------------------------------
    @classmethod
    def create(cls, spec: Launchable, port: int | None = None, timeout: float = 120.0) -> Experiment:
        """Write the config and ``nnictl create`` it; returns once the REST API answers.

        Raises:
            ExperimentError: if nnictl fails or no experiment id can be found.
        """
        port = port or free_port()
        spec.working_directory.mkdir(parents=True, exist_ok=True)
        config_path = spec.write_config(spec.working_directory / f"config-{port}.yml")
        output = _nnictl(spec, ["create", "--config", str(config_path), "--port", str(port)], timeout)
        match = _ID_PATTERN.search(output)
        experiment_id = match.group(1) if match else None
        experiment = cls(spec, experiment_id or "", port)
        if experiment_id is None:
            try:
                experiment.id = str(experiment.rest.experiment()["id"])
            except (NniRestError, KeyError) as exc:
                raise ExperimentError(f"nnictl create gave no experiment id:\n{output}") from exc
        _logger.info("experiment %s started on port %d", experiment.id, port)
        return experiment

    @classmethod
    def resume(cls, spec: Launchable, experiment_id: str, port: int | None = None,
               timeout: float = 120.0) -> Experiment:
        """``nnictl resume`` a stopped experiment of ``spec.working_directory``."""
        port = port or free_port()
        _nnictl(spec, ["resume", experiment_id, "--port", str(port),
                       "--experiment_dir", str(spec.working_directory)], timeout)
        _logger.info("experiment %s resumed on port %d", experiment_id, port)
        return cls(spec, experiment_id, port)

    def stop(self, timeout: float = 60.0) -> None:
        """``nnictl stop`` the experiment and make sure none of its processes survive.

        Idempotent. Processes still alive after ``timeout`` are terminated,
        then killed (they are this experiment's, found by id and directory).

        Raises:
            ExperimentError: if processes of the experiment survive even SIGKILL.
        """
        if self._stopped:
            return
        self._stopped = True
        try:
            _nnictl(self.spec, ["stop", self.id], timeout)
        except ExperimentError as exc:
            _logger.warning("nnictl stop %s failed: %s", self.id, exc)
        deadline = time.monotonic() + timeout
        while experiment_processes(self.id, self.directory) and time.monotonic() < deadline:
            time.sleep(0.5)
        survivors = end_processes(self.id, self.directory)
        if survivors:
            raise ExperimentError(f"experiment {self.id}: processes {survivors} survive")
        _logger.info("experiment %s stopped", self.id)

    def __enter__(self) -> Experiment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- REST API -----------------------------------------------------------------
    def status(self) -> str:
        """NNI's experiment status: RUNNING, NO_MORE_TRIAL, TUNER_NO_MORE_TRIAL, DONE, ERROR, ..."""
        return str(self.check_status().get("status"))

    def check_status(self) -> dict[str, Any]:
        """The full ``check-status`` answer (status and errors)."""
        return self._rest(self.rest.check_status)

    def trials(self) -> list[dict[str, Any]]:
        """NNI's trial records (``/trial-jobs``): id, status, startTime, endTime,
        hyperParameters (JSON strings), finalMetricData, ..."""
        return self._rest(self.rest.trial_jobs)

    def metrics(self) -> list[dict[str, Any]]:
        """Every metric record (``/metric-data``): trialJobId, parameterId, type, timestamp, data."""
        return self._rest(self.rest.metric_data)

    @staticmethod
    def _rest(call: Callable[[], Any]) -> Any:
        try:
            return call()
        except NniRestError as exc:
            raise ExperimentError(str(exc)) from exc

    def wait(
        self,
        timeout: float | None,
        poll: float = 1.0,
        until: Sequence[str] = ("DONE",),
        on_progress: Callable[[Progress], None] | None = None,
    ) -> str:
        """Poll until the status is in ``until`` (or terminal); returns the status.

        Args:
            timeout: Seconds to wait at most (None: no limit).

        Raises:
            ExperimentError: on ERROR (with NNI's messages).
            ExperimentTimeout: when ``timeout`` runs out first.
        """
        start = time.monotonic()
        while True:
            check = self.check_status()
            status = str(check.get("status"))
            if on_progress is not None:
                counts: dict[str, int] = {}
                for trial in self.trials():
                    counts[trial.get("status", "?")] = counts.get(trial.get("status", "?"), 0) + 1
                on_progress(Progress(status, time.monotonic() - start, counts))
            if status in until:
                return status
            if status == "ERROR":
                raise ExperimentError(f"experiment {self.id} failed: {check.get('errors')}")
            if status in TERMINAL_STATUSES:
                return status
            if timeout is not None and time.monotonic() - start > timeout:
                raise ExperimentTimeout(f"experiment {self.id} still {status} after {timeout:.0f} s")
            time.sleep(poll)


def _nnictl(spec: Launchable, args: list[str], timeout: float) -> str:
    env = {**os.environ, **spec.env}
    # The web UI / REST API on loopback for local experiments (NNI itself listens everywhere): bind.py.
    env.update(manager_env(getattr(spec, "platforms", {"local"}), spec.working_directory, env))
    command = [*nnictl_command(), *args]
    try:
        done = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=timeout,
            cwd=spec.working_directory, stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise ExperimentError(f"{' '.join(command)} timed out after {timeout} s") from exc
    output = (done.stdout or "") + (done.stderr or "")
    if done.returncode != 0:
        raise ExperimentError(f"{' '.join(command)} exited {done.returncode}:\n{output}")
    _logger.debug("%s:\n%s", " ".join(command), output)
    return output

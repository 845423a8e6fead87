"""A ga-squad search on stand-in worker machines: the remote config, its launch, what it left.

Used by ``tests/test_remote_hosts.py`` and ``benchmarks/remote.py``. The
config is the shipped ``config_remote.yml`` with only the machine-specific
values replaced (hosts, ports, key, storage root, the venv's ``bin`` as
``pythonPath``) and the trial shrunk to tiny settings, so what passes here is
the shape a user runs.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ga_squad.launch.config import load_launch_config
from ga_squad.launch.experiment import Experiment, ExperimentError, ExperimentSpec, free_port, nnictl_command

from .hosts import WorkerHost, WorkerSpec, make_key_pair, start_workers

REPO = Path(__file__).resolve().parents[2]
_EXPERIMENT_LINE = re.compile(r"^experiment (\w+): web UI")
ADDRESSES = ("127.0.0.11", "127.0.0.12", "127.0.0.13", "127.0.0.14")

TINY_TRIAL = ("python trial/trial.py --size tiny --epochs 1 --train-limit 240 --dev-limit 80 "
              "--glove data/glove.sample.50d.txt --threads 1")


@dataclass(frozen=True)
class Cluster:
    """Workers started for one search, the client key, and the shared storage root."""

    hosts: tuple[WorkerHost, ...]
    key: Path
    store: Path


@contextmanager
def cluster(base: Path, workers: int = 2) -> Iterator[Cluster]:
    """Start ``workers`` stand-in machines under ``base``; always stops them.

    Stopping checks nothing; callers assert on :meth:`WorkerHost.leftovers`
    before leaving the block (or on what :meth:`WorkerHost.stop` had to kill).
    """
    key = make_key_pair(base / "client")
    store = base / "store"
    store.mkdir(parents=True, exist_ok=True)
    specs = [
        WorkerSpec(name=f"ga-worker-{chr(ord('a') + i)}", address=ADDRESSES[i], port=free_port(),
                   directory=base / f"worker-{i}", shared=(store,), authorized_key=key.with_suffix(".pub"))
        for i in range(workers)
    ]
    hosts = start_workers(specs)
    try:
        yield Cluster(tuple(hosts), key, store)
    finally:
        for host in hosts:
            host.stop()


def remote_config(c: Cluster, working_directory: Path, *, max_trials: int, population: int = 2,
                  seed: int = 3, duration: str = "10m", trial: str = TINY_TRIAL) -> dict[str, Any]:
    """``config_remote.yml`` pointed at the stand-in workers, with tiny trials."""
    config = yaml.safe_load((REPO / "config_remote.yml").read_text(encoding="utf-8"))
    store = str(c.store)
    config.update(
        nniManagerIp="127.0.0.1",  # the workers share this machine's network
        trialCommand=f"{trial} --storage-root {store} --cache-dir {store}/cache",
        trialCodeDirectory=str(REPO),
        trialConcurrency=len(c.hosts),
        maxTrialNumber=max_trials,
        maxExperimentDuration=duration,
        experimentWorkingDirectory=str(working_directory),
    )
    config["tuner"]["codeDirectory"] = str(REPO)
    config["tuner"]["classArgs"].update(save_dir_root=store, population_size=population,
                                        tournament_size=population, seed=seed, min_layers=1, max_layers=4)
    template = config["trainingService"]["machineList"][0]
    config["trainingService"]["machineList"] = [
        {**template, "host": h.spec.address, "port": h.spec.port, "user": h.spec.user,
         "sshKeyFile": str(c.key), "pythonPath": str(Path(sys.executable).parent)}
        for h in c.hosts
    ]
    config.pop("sharedStorage", None)  # the root is already mounted on every worker
    return config


@dataclass
class RunningSearch:
    """``python -m ga_squad run --config FILE`` running in a child process, and its NNI experiment."""

    process: subprocess.Popen[str]
    experiment: Experiment
    output: list[str]

    def finish(self, timeout: float) -> int:
        """Wait for ``run`` to end (it stops the experiment itself); kill it (by pid) on timeout."""
        try:
            out, _ = self.process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        self.output.append(out or "")
        return self.process.returncode


def launch_with_run(config: Mapping[str, Any], env: Mapping[str, str], timeout: float = 180.0) -> RunningSearch:
    """Start the main job on ``config`` exactly as a user does: ``python -m ga_squad run --config FILE``.

    Returns once ``run`` printed the experiment id (``experiment ID: web UI ...``).
    """
    working = Path(config["experimentWorkingDirectory"])
    working.mkdir(parents=True, exist_ok=True)
    port = free_port()
    path = working / "config_remote_test.yml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    process = subprocess.Popen(
        [sys.executable, "-m", "ga_squad", "run", "--config", str(path), "--port", str(port), "--poll", "2"],
        cwd=REPO, env={**os.environ, **env}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT, text=True)
    output: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:  # `run` prints the id once the experiment is up
        output.append(line)
        match = _EXPERIMENT_LINE.match(line)
        if match:
            spec = ExperimentSpec(trial_command=str(config["trialCommand"]), trial_code_directory=REPO,
                                  tuner_code_directory=REPO, tuner_class_args={}, working_directory=working,
                                  env=dict(env))
            return RunningSearch(process, Experiment(spec, match.group(1), port), output)
    process.wait(timeout=timeout)
    raise ExperimentError(f"python -m ga_squad run exited {process.returncode} before starting:\n{''.join(output)}")


def create(config: Mapping[str, Any], env: Mapping[str, str], timeout: float = 120.0) -> Experiment:
    """Start ``config`` through the library ``run`` uses (same loading and overrides), without waiting.

    For the benchmark, which needs NNI's trial records after the end (``run``
    stops the experiment as soon as it is done).
    """
    working = Path(config["experimentWorkingDirectory"])
    working.mkdir(parents=True, exist_ok=True)
    path = working / "config_remote_bench.yml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    return Experiment.create(load_launch_config(path, env=env), timeout=timeout)


def update_max_trials(experiment: Experiment, value: int) -> None:
    """``nnictl update trialnum``: NNI's own way to end a search early but cleanly."""
    subprocess.run([*nnictl_command(), "update", "trialnum", experiment.id, "--value", str(value)],
                   env={**os.environ, **experiment.spec.env}, check=True, capture_output=True,
                   text=True, timeout=60, stdin=subprocess.DEVNULL)


def final_results(trials: Sequence[Mapping[str, Any]]) -> dict[int, dict[str, Any]]:
    """indiv_id -> the final result its trial reported (with NNI's trial record under ``_trial``)."""
    out: dict[int, dict[str, Any]] = {}
    for trial in trials:
        for metric in trial.get("finalMetricData") or []:
            value = json.loads(json.loads(metric["data"]))
            out[int(value["indiv_id"])] = {**value, "_trial": dict(trial)}
    return out

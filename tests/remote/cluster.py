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
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ga_squad.launch.experiment import Experiment, ExperimentError, ExperimentSpec, free_port, nnictl_command

from .hosts import WorkerHost, WorkerSpec, make_key_pair, start_workers

REPO = Path(__file__).resolve().parents[2]
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


def create(config: Mapping[str, Any], env: Mapping[str, str], timeout: float = 120.0) -> Experiment:
    """``nnictl create`` the config as written; returns once NNI's REST API names the experiment."""
    working = Path(config["experimentWorkingDirectory"])
    working.mkdir(parents=True, exist_ok=True)
    port = free_port()
    path = working / f"config-{port}.yml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False), encoding="utf-8")
    done = subprocess.run([*nnictl_command(), "create", "--config", str(path), "--port", str(port)],
                          env={**os.environ, **env}, capture_output=True, text=True, timeout=timeout,
                          cwd=working, stdin=subprocess.DEVNULL)
    # what stop() needs: nnictl's registry (HOME) and the working directory
    spec = ExperimentSpec(trial_command=str(config["trialCommand"]), trial_code_directory=REPO,
                          tuner_code_directory=REPO, tuner_class_args={}, working_directory=working,
                          env=dict(env))
    experiment = Experiment(spec, "", port)
    try:
        experiment.id = str(experiment._get("experiment")["id"])
    except (ExperimentError, KeyError) as exc:
        raise ExperimentError(f"nnictl create failed ({done.returncode}):\n{done.stdout}{done.stderr}") from exc
    if done.returncode != 0:
        experiment.stop()
        raise ExperimentError(f"nnictl create exited {done.returncode}:\n{done.stdout}{done.stderr}")
    return experiment


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

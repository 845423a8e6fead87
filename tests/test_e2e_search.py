"""End to end: the main job (``python -m ga_squad run``) through nnictl with real TensorFlow trials.

A tiny setting (6 trials at concurrency 2, population 2, tiny model, one
epoch on a slice of the bundled sample) run exactly as a user runs
``make run``, then checked from what the search left on disk, not from logs:
the lineage journal and each checkpoint's manifest must show at least three
children warm-started from their parent's published checkpoint, every child
dispatched after its parent reported, and no NNI process left behind.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ga_squad.reader.checkpoint import read_manifest
from ga_squad.launch.experiment import experiment_processes
from ga_squad.store.journal import read_events, replay
from ga_squad.store.paths import SearchLayout
from ga_squad.launch.config import load_launch_config

REPO = Path(__file__).resolve().parents[1]
TRIALS = 6


def tiny_config(tmp_path: Path) -> Path:
    """config.yml with the same shape as the shipped one, shrunk for CI."""
    config = yaml.safe_load((REPO / "config.yml").read_text())
    store = tmp_path / "store"
    config.update(
        trialCommand=(
            f"python trial/trial.py --size tiny --epochs 1 --train-limit 240 --dev-limit 80 "
            f"--glove data/glove.sample.50d.txt --storage-root {store} --cache-dir {tmp_path / 'cache'} --threads 1"
        ),
        trialCodeDirectory=str(REPO),
        trialConcurrency=2,
        maxTrialNumber=TRIALS,
        maxExperimentDuration="12m",
        experimentWorkingDirectory=str(tmp_path / "nni"),
    )
    config["tuner"]["codeDirectory"] = str(REPO)
    config["tuner"]["classArgs"].update(save_dir_root=str(store), population_size=2, seed=3)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_shipped_configs_are_valid_nni_configs(tmp_path: Path) -> None:
    from nni.experiment.config import ExperimentConfig

    key = tmp_path / "key"
    key.write_text("not a real key")
    for name in ("config.yml", "config_full.yml", "config_remote.yml"):
        raw = yaml.safe_load((REPO / name).read_text())
        for machine in raw["trainingService"].get("machineList", []):
            assert "password" not in machine, f"{name}: SSH keys only, never passwords"
            machine["sshKeyFile"] = str(key)
        ExperimentConfig(**raw).validate()
    launch = load_launch_config(REPO / "config.yml")
    assert launch.max_trial_number >= 12 and launch.get("trialConcurrency") == 1
    assert launch.storage_root == REPO / "runs"


@pytest.mark.nni
def test_main_job_warm_starts_children_through_nnictl(tmp_path: Path) -> None:
    config = tiny_config(tmp_path)
    env = {**os.environ, "HOME": str(tmp_path / "home")}  # nnictl's registry stays in tmp
    done = subprocess.run(
        [sys.executable, "-m", "ga_squad", "run", "--config", str(config), "--poll", "3", "--timeout", "900"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=1000,
    )
    output = done.stdout + done.stderr
    match = re.search(r"experiment (\w+): web UI", output)
    assert match, output
    experiment_id = match.group(1)
    # what was submitted is the file itself: the shrunk config's keys arrive unchanged
    (submitted_path,) = (tmp_path / "nni").glob("config-*.yml")  # written for `nnictl create`
    submitted = yaml.safe_load(submitted_path.read_text())
    assert submitted["maxTrialNumber"] == TRIALS and submitted["trainingService"] == {
        "platform": "local", "useActiveGpu": False}
    assert submitted["trialCommand"].startswith(f"{sys.executable} trial/trial.py")
    assert "override trialCommand: python -> " in output
    assert experiment_processes(experiment_id, tmp_path / "nni" / experiment_id) == []
    assert done.returncode == 0, output
    assert "DONE" in output and "rank" in output and "best checkpoint:" in output, output
    # the user is told whether the search beat the best preset trained alone for the same budget (B, by name)
    assert re.search(r"equal-compute baseline B = (base|drqa|bidaf): the best by val_loss \(minimize\) on validation "
                     r"of 3 presets \(drqa, bidaf, base\), each trained alone from scratch for 6 trial-epochs", output), output
    assert re.search(r"search best \(individual \d+\): validation F1 [\d.]+, dev F1 [\d.]+, \d+ s, \d+ trial-epochs; "
                     r"against B: [+-][\d.]+ validation F1, [+-][\d.]+ dev F1: the search (did not )?beat the best preset",
                     output), output
    assert "pays off" not in output

    layout = SearchLayout.for_experiment(tmp_path / "store", experiment_id)
    records = replay(read_events(layout.journal_path))
    reported = {i: r for i, r in records.items() if r.value is not None}
    assert len(reported) >= TRIALS, {i: r.status for i, r in records.items()}

    warm = []
    for rec in reported.values():
        manifest = read_manifest(rec.save_dir)  # published: the manifest is there
        assert manifest["indiv_id"] == rec.indiv_id
        assert manifest["metrics"]["f1"] == pytest.approx(rec.result["f1"])
        if rec.parent_id is None:
            assert manifest["metrics"]["warm_start"] is False
            continue
        parent = records[rec.parent_id]
        assert manifest["parent_id"] == rec.parent_id
        assert rec.restore_dir == parent.save_dir
        assert parent.reported_at is not None and parent.reported_at <= rec.dispatched_at
        loaded = set(manifest["warm_start"]["loaded_ids"])
        if manifest["metrics"]["warm_start"]:
            assert loaded and loaded <= set(rec.shared_ids)
            # inherited groups exist in the parent's published checkpoint
            assert loaded <= set(read_manifest(parent.save_dir)["param_counts"])
            assert manifest["metrics"]["inherited_params"] > 0
            warm.append(rec.indiv_id)
    assert len(warm) >= 3, f"only {warm} warm-started"

"""The equal-compute baseline as a user meets it: after ``run``, in the report.

The command is the search's own ``trialCommand`` plus the baseline options
(so the baseline sees the trials' data and settings); the trial script
trains the reader once, caches the curve under the storage root, and writes
the outcome into the search folder, where the report finds it.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ga_squad.analysis.baseline import BASELINE_FILE, BaselineOutcome, comparison_text, load_outcome, write_outcome
from ga_squad.analysis.report import write_report
from ga_squad.analysis.search_dir import load_search
from ga_squad.launch.baseline import BaselineUnavailable, baseline_command, run_baseline
from ga_squad.launch.config import load_launch_config
from test_report import HAND, write_journal

REPO = Path(__file__).resolve().parents[1]


def _config(tmp_path: Path, trial_command: str, **changes) -> Path:
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config.update(trialCommand=trial_command, trialCodeDirectory=str(REPO), maxTrialNumber=3,
                  experimentWorkingDirectory=str(tmp_path / "nni"), **changes)
    config["tuner"]["classArgs"]["save_dir_root"] = str(tmp_path / "store")
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def test_the_command_is_the_trial_command_plus_the_baseline_options(tmp_path: Path) -> None:
    launch = load_launch_config(REPO / "config.yml")
    argv = baseline_command(launch, tmp_path / "exp")
    trial = shlex.split(launch.get("trialCommand"))
    assert argv[:len(trial)] == trial  # the trials' own data, size and epochs
    assert argv[len(trial):] == ["--preset", "base", "--standalone", "--equal-compute-baseline",
                                 str(launch.max_trial_number), "--baseline-out", str(tmp_path / "exp" / BASELINE_FILE),
                                 "--threads", str(os.cpu_count())]


def test_a_search_seeded_from_presets_is_compared_with_its_first_preset(tmp_path: Path) -> None:
    path = _config(tmp_path, "python trial/trial.py --size tiny --epochs 2")
    raw = yaml.safe_load(path.read_text())
    raw["tuner"]["classArgs"]["search_space"] = {"presets": ["drqa", "base"]}
    path.write_text(yaml.safe_dump(raw))
    argv = baseline_command(load_launch_config(path), tmp_path)
    assert argv[argv.index("--preset") + 1] == "drqa"


def test_no_baseline_where_the_budget_or_the_machine_is_unknown(tmp_path: Path) -> None:
    launch = load_launch_config(_config(tmp_path, "python trial/trial.py --epochs 1"))
    unbounded = type(launch)(launch.source, {k: v for k, v in launch.config.items() if k != "maxTrialNumber"})
    with pytest.raises(BaselineUnavailable, match="maxTrialNumber"):
        baseline_command(unbounded, tmp_path)
    other = type(launch)(launch.source, {**launch.config, "trialCommand": "python train_mine.py"})
    with pytest.raises(BaselineUnavailable, match="trial.py"):
        baseline_command(other, tmp_path)
    remote = type(launch)(REPO / "config_remote.yml", yaml.safe_load((REPO / "config_remote.yml").read_text()))
    with pytest.raises(BaselineUnavailable, match="platform"):
        baseline_command(remote, tmp_path)


def test_comparison_says_whether_the_search_paid_off() -> None:
    outcome = BaselineOutcome(reader="base", budget=24, val_f1=14.0, dev_f1=13.0, epochs_run=24, seconds=1.0,
                              cache_path="c", best_epoch=11)
    won = comparison_text(outcome, 15.5, 14.2)
    assert "24 trial-epochs, best at epoch 11: validation F1 14.00, dev F1 13.00" in won
    assert "+1.50 against it: the search pays off" in won
    assert "-2.00 against it: the search does not pay off" in comparison_text(outcome, 12.0, None)


@pytest.mark.slow
def test_run_trains_the_baseline_once_and_the_report_states_it(tmp_path: Path) -> None:
    """Real training: 3 trials x 1 epoch on a slice of the sample; the second call reads the cache."""
    store = tmp_path / "store"
    command = (f"python trial/trial.py --size tiny --epochs 1 --train-limit 60 --dev-limit 20 --max-passage-len 120 "
               f"--glove data/glove.sample.50d.txt --storage-root {store} --cache-dir {tmp_path / 'cache'}")
    launch = load_launch_config(_config(tmp_path, command))
    root = write_journal(store, "exp", HAND)
    outcome = run_baseline(launch, root, timeout_s=600)
    assert outcome.reader == "base" and outcome.budget == 3 and outcome.epochs_run == 3  # the whole budget
    assert 0.0 <= outcome.val_f1 <= 100.0
    cache = Path(outcome.cache_path)
    curve = json.loads(cache.read_text())
    assert cache.parent == store / "cache" and len(curve["val_f1"]) == outcome.epochs_run
    assert outcome.val_f1 == max(curve["val_f1"])  # its best epoch is kept
    assert curve["val_f1"][outcome.best_epoch - 1] == outcome.val_f1
    stamp = cache.stat().st_mtime_ns

    (root / BASELINE_FILE).unlink()
    again = run_baseline(launch, root, timeout_s=600)
    assert again == outcome and cache.stat().st_mtime_ns == stamp  # read from the cache, not retrained

    search = load_search(store, "exp")
    written = write_report(search, tmp_path / "report", reevaluate=False)
    summary = written["summary"].read_text()
    assert "## Equal-compute baseline" in summary
    assert f"validation F1 {outcome.val_f1:.2f}" in summary and "search best: validation F1 40.00" in summary
    payload = json.loads(written["json"].read_text())
    assert payload["equal_compute_baseline"] == outcome.to_dict()


def test_report_without_a_baseline_says_how_to_get_one(tmp_path: Path) -> None:
    write_journal(tmp_path, "exp", HAND)
    summary = write_report(load_search(tmp_path, "exp"), tmp_path / "out", reevaluate=False)["summary"].read_text()
    assert "No equal-compute baseline stored" in summary and "python -m ga_squad run" in summary


def test_a_damaged_baseline_file_is_named(tmp_path: Path) -> None:
    (tmp_path / BASELINE_FILE).write_text("{not json")
    with pytest.raises(ValueError, match=BASELINE_FILE):
        load_outcome(tmp_path)
    outcome = BaselineOutcome("base", 2, 1.0, None, 2, 0.5, "x")
    write_outcome(tmp_path / BASELINE_FILE, outcome)
    assert load_outcome(tmp_path) == outcome


def test_trial_cli_refuses_a_baseline_without_storage_root(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "trial/trial.py", "--equal-compute-baseline", "2", "--size", "tiny"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "--storage-root" in done.stderr

"""The equal-compute baseline as a user meets it: after ``run``, in the report.

The command is the search's own ``trialCommand`` plus the baseline options
(so every preset sees the trials' data and settings); the trial script
trains each preset alone (or reads it from the cache under the storage root)
and prints a JSON line per epoch; the launcher shows them as they come (a
bar, a line per preset) and writes the records into the search folder, where
the report finds them and names B.
"""

from __future__ import annotations

import io
import json
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ga_squad.analysis.report import write_report
from ga_squad.analysis.search_dir import load_search
from ga_squad.launch.baseline import (
    BaselineUnavailable,
    baseline_command,
    baseline_preset_names,
    run_baseline,
    trial_threads,
)
from ga_squad.launch.config import load_launch_config
from ga_squad.store.baselines import BASELINE_FILE, PresetBaseline, baseline_path, best_preset, load_baselines
from test_report import HAND, write_journal

REPO = Path(__file__).resolve().parents[1]
FAKE = "python tests/fixtures/fake_baseline_trial.py --epochs 2"  # 3 trials x 2 epochs: a budget of 6


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
    presets = baseline_preset_names(launch)
    assert presets == ("drqa", "bidaf", "base")  # config.yml's space starts from drqa; bidaf and base always
    argv = baseline_command(launch, presets)
    trial = shlex.split(launch.get("trialCommand"))
    assert argv[:len(trial)] == trial  # the trials' own data, size, epochs and threads
    # config.yml ranks by val_loss: every preset keeps its lowest-loss epoch, as the trials do
    assert argv[len(trial):] == ["--standalone", "--equal-compute-baseline", str(launch.max_trial_number),
                                 "--baseline-presets", "drqa,bidaf,base", "--fitness", "val_loss"]
    # each process keeps the trials' threads (results shift with the thread count): 2 on 2 cores = one at a time
    assert trial_threads(argv) == 2 and trial_threads(["x", "--threads=3"]) == 3 and trial_threads(["x"]) == 1


def test_the_presets_are_the_search_spaces_then_drqa_bidaf_base(tmp_path: Path) -> None:
    path = _config(tmp_path, "python trial/trial.py --size tiny --epochs 2")
    raw = yaml.safe_load(path.read_text())
    raw["tuner"]["classArgs"]["search_space"] = {"presets": ["bidaf", "base"]}
    path.write_text(yaml.safe_dump(raw))
    assert baseline_preset_names(load_launch_config(path)) == ("bidaf", "base", "drqa")


def test_no_baseline_where_the_budget_or_the_machine_is_unknown(tmp_path: Path) -> None:
    launch = load_launch_config(_config(tmp_path, "python trial/trial.py --epochs 1"))
    unbounded = type(launch)(launch.source, {k: v for k, v in launch.config.items() if k != "maxTrialNumber"})
    with pytest.raises(BaselineUnavailable, match="maxTrialNumber"):
        baseline_command(unbounded, ("base",))
    other = type(launch)(launch.source, {**launch.config, "trialCommand": "python train_mine.py"})
    with pytest.raises(BaselineUnavailable, match="trial.py"):
        baseline_command(other, ("base",))
    remote = type(launch)(REPO / "config_remote.yml", yaml.safe_load((REPO / "config_remote.yml").read_text()))
    with pytest.raises(BaselineUnavailable, match="platform"):
        baseline_command(remote, ("base",))


def test_run_baseline_shows_progress_in_parallel_and_says_what_came_from_the_cache(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    launch = load_launch_config(_config(tmp_path, f"{FAKE} --storage-root {store}"))
    root = write_journal(store, "exp", HAND)
    pids = tmp_path / "pids"
    pids.mkdir()
    monkeypatch.setenv("FAKE_BASELINE_PIDS", str(pids))

    out = io.StringIO()
    records = run_baseline(launch, root, stream=out, bar=True, processes=2)
    assert [r.preset for r in records] == ["drqa", "bidaf", "base"] and load_baselines(root) == records
    assert best_preset(records).preset == "drqa"  # the lowest validation loss (config.yml: fitness val_loss)
    assert sorted(p.read_text() for p in pids.iterdir()) == ["bidaf", "drqa,base"]  # two processes at once
    text = out.getvalue()
    assert "equal-compute baseline" in text and "18/18" in text  # 3 presets x 6 epochs, all trained
    assert "best val F1 30.00 (drqa)" in text and "3/3 presets done" in text
    assert text.count("trained for 6 epochs") == 3 and "read from the cache" not in text

    again = io.StringIO()
    assert run_baseline(launch, root, stream=again, bar=True) == records
    assert again.getvalue().count("read from the cache") == 3 and "trained for" not in again.getvalue()

    baseline_path(store, records[1].key).unlink()  # bidaf trains again; without a terminal, a line per epoch
    lines = io.StringIO()
    run_baseline(launch, root, stream=lines, bar=None)
    text = lines.getvalue()
    assert "bidaf epoch 6/6: validation F1 25.00" in text and "bidaf trained for 6 epochs" in text
    assert "equal-compute baseline: base read from the cache" in text and "drqa epoch" not in text


def test_a_failing_preset_is_quoted_and_nothing_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = tmp_path / "store"
    launch = load_launch_config(_config(tmp_path, f"{FAKE} --storage-root {store}"))
    root = write_journal(store, "exp", HAND)
    monkeypatch.setenv("FAKE_BASELINE_FAIL", "bidaf")
    with pytest.raises(BaselineUnavailable, match=r"for bidaf, base failed \(exit 3\): Traceback: preset bidaf broke"):
        run_baseline(launch, root, stream=io.StringIO(), processes=1)
    with pytest.raises(subprocess.TimeoutExpired):
        run_baseline(launch, root, timeout_s=0.01, stream=io.StringIO())
    assert not (root / BASELINE_FILE).exists()


class _FinishedExperiment:
    """What ``run`` waits on, already DONE (the search itself is not under test here)."""

    id, port = "exp", 8123

    def wait(self, timeout: float | None, **kwargs: object) -> str:
        return "DONE"

    def stop(self) -> None:
        pass


def test_run_names_b_after_a_finished_search_with_progress_on_stderr(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from ga_squad.cli import run

    store = tmp_path / "store"
    path = _config(tmp_path, f"{FAKE} --storage-root {store}")
    write_journal(store, _FinishedExperiment.id, HAND)
    monkeypatch.setattr(run.Experiment, "create", lambda *a, **k: _FinishedExperiment())
    assert run.cli(["--config", str(path)]) == 0
    captured = capsys.readouterr()
    assert "equal-compute baseline: training drqa, bidaf, base each alone" in captured.out
    assert "equal-compute baseline B = drqa: the best by val_loss (minimize) on validation of 3 presets" in captured.out
    assert "search best (individual 2): validation F1 40.00" in captured.out and "pays off" not in captured.out
    assert "drqa epoch 6/6" in captured.err and "drqa trained for 6 epochs" in captured.err  # no terminal: lines


@pytest.mark.slow
def test_the_trial_entry_trains_each_preset_and_run_and_report_name_b(tmp_path: Path) -> None:
    """Real training, 3 epochs per preset on a slice of the sample: two by the trial entry, the third by run."""
    store = tmp_path / "store"
    options = (f"--size tiny --epochs 1 --train-limit 60 --dev-limit 20 --max-passage-len 120 "
               f"--glove data/glove.sample.50d.txt --storage-root {store} --cache-dir {tmp_path / 'cache'}")
    out_file = tmp_path / "two.json"
    done = subprocess.run([sys.executable, "trial/trial.py", *shlex.split(options), "--standalone",
                           "--equal-compute-baseline", "3", "--baseline-presets", "base,drqa", "--fitness", "val_loss",
                           "--baseline-out", str(out_file)], cwd=REPO, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    events = [json.loads(line) for line in done.stdout.splitlines()]  # nothing but progress lines on stdout
    epochs = [e for e in events if e["event"] == "epoch"]
    assert [(e["preset"], e["epoch"]) for e in epochs] == [("base", 1), ("base", 2), ("base", 3),
                                                           ("drqa", 1), ("drqa", 2), ("drqa", 3)]
    assert all({"val_f1", "val_loss", "seconds"} <= set(e) for e in epochs)
    stored = json.loads(out_file.read_text())
    assert stored["schema"] == 2 and [r["preset"] for r in stored["baselines"]] == ["base", "drqa"]
    two = tuple(PresetBaseline.from_dict(r) for r in stored["baselines"])
    assert all(r.budget == 3 and r.fitness.key == "val_loss" and r.kept_val_loss == min(r.val_loss) for r in two)

    launch = load_launch_config(_config(tmp_path, f"python trial/trial.py {options}"))
    root = write_journal(store, "exp", HAND)
    progress = io.StringIO()
    records = run_baseline(launch, root, timeout_s=900, stream=progress, bar=False)
    text = progress.getvalue()
    assert text.count("read from the cache") == 2 and "bidaf trained for 3 epochs" in text, text
    assert [r.preset for r in records] == ["drqa", "bidaf", "base"]  # config.yml's order
    assert (records[2], records[0]) == two  # base and drqa from the entry's cache

    written = write_report(load_search(store, "exp"), tmp_path / "report", reevaluate=False)
    summary = written["summary"].read_text()
    b = best_preset(records)
    assert "## Equal-compute baseline" in summary and f"equal-compute baseline B = {b.preset}" in summary
    assert "search best (individual 2): validation F1 40.00" in summary  # HAND's best
    payload = json.loads(written["json"].read_text())
    assert payload["equal_compute_best_preset"] == b.preset
    assert [PresetBaseline.from_dict(r) for r in payload["equal_compute_baseline"]] == list(records)


def test_report_without_a_baseline_says_how_to_get_one(tmp_path: Path) -> None:
    write_journal(tmp_path, "exp", HAND)
    summary = write_report(load_search(tmp_path, "exp"), tmp_path / "out", reevaluate=False)["summary"].read_text()
    assert "No `baseline.json` in" in summary and "python -m ga_squad run" in summary


def test_report_names_an_old_or_damaged_baseline_file(tmp_path: Path) -> None:
    root = write_journal(tmp_path, "exp", HAND)
    (root / BASELINE_FILE).write_text(json.dumps({"schema": 1, "reader": "base", "val_f1": 16.8}))
    summary = write_report(load_search(tmp_path, "exp"), tmp_path / "out", reevaluate=False)["summary"].read_text()
    assert "Equal-compute baseline unreadable" in summary and "schema 1" in summary and "delete it" in summary


def test_trial_cli_refuses_a_baseline_without_storage_root(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "trial/trial.py", "--equal-compute-baseline", "2", "--size", "tiny"],
                          cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode != 0 and "--storage-root" in done.stderr

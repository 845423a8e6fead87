"""benchmarks/search_vs_baselines.py: the schedule of arm D, the configurations it reads, the paired
summary, and one real run of arms B and D on a tiny configuration (issue 26's figures come from this script)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest

from benchmarks import search_vs_baselines as svb
from ga_squad.analysis.paired import paired_gap

REPO_ROOT = Path(__file__).resolve().parents[1]


def _cost(schedule: list[tuple[int, int]]) -> int:
    total, prev = 0, 0
    for n, epochs in schedule:
        total, prev = total + n * (epochs - prev), epochs
    return total


@pytest.mark.parametrize("budget", [1, 2, 3, 7, 12, 24, 48, 100])
def test_halving_schedule_spends_exactly_the_budget_and_halves(budget: int) -> None:
    schedule = svb.halving_schedule(budget)
    assert _cost(schedule) == budget
    counts = [n for n, _ in schedule]
    assert counts[-1] == 1 and all(a == 2 * b for a, b in itertools.pairwise(counts))
    epochs = [e for _, e in schedule]
    assert all(e == 2 ** i for i, e in enumerate(epochs[:-1])) and epochs[-1] >= 2 ** (len(epochs) - 1)
    # the most candidates that fit: twice as many, halved down to one, would overspend
    n0 = 2 * counts[0]
    wider = [(n0 >> i, 2 ** i) for i in range(n0.bit_length())]
    assert _cost(wider) > budget


def test_halving_schedule_of_make_runs_budget() -> None:
    assert svb.halving_schedule(24) == [(8, 1), (4, 2), (2, 4), (1, 12)]
    with pytest.raises(ValueError, match="budget 0"):
        svb.halving_schedule(0)


def test_setting_reads_the_shipped_config() -> None:
    setting = svb.Setting.load("sample", REPO_ROOT / "config.yml")
    assert setting.trials == 12
    assert setting.trial_argv[:2] == ("--size", "tiny")
    assert setting.space.presets[0] == "drqa" and setting.space.exact_only
    assert set(svb.BASELINE_PRESETS) <= set(setting.presets())
    assert setting.trial_config().train.epochs == 2


def test_shared_data_setting_is_the_shipped_tuner_on_the_untouched_dev_questions() -> None:
    shipped = svb.Setting.load("sample", REPO_ROOT / "config.yml")
    shared = svb.Setting.load("shared", REPO_ROOT / "benchmarks" / "configs" / "shared_grow_drqa.yml")
    assert shared.evolution == shipped.evolution and shared.space == shipped.space
    cfg = shared.trial_config()
    assert (cfg.data.dev_skip, cfg.data.dev_limit) == (2000, 4000)  # dev questions 2,001-6,000 (protocol)
    assert cfg.data.train_path.endswith("shared/data/squad/train.json") and cfg.data.train_limit is None
    assert (shared.trials, cfg.train.epochs) == (8, 1) and cfg.model == cfg.model.preset("small")


def test_best_so_far_follows_the_fitness_not_dev() -> None:
    trials = [{"label": "a", "trial_epochs": 2, "val_loss": 7.0, "val_f1": 20.0, "dev_f1": 30.0},
              {"label": "b", "trial_epochs": 2, "val_loss": 6.5, "val_f1": 19.0, "dev_f1": 10.0},
              {"label": "c", "trial_epochs": 1, "val_loss": 6.9, "val_f1": 25.0, "dev_f1": 40.0}]
    curve = svb.best_so_far(trials, "val_loss", lambda a, b: a < b)
    assert [p["trial_epochs"] for p in curve] == [2, 4, 5]
    assert [p["label"] for p in curve] == ["a", "b", "b"]
    assert curve[-1]["dev_f1"] == 10.0


def _record(arm: str, seed: int, dev: float, val: float) -> dict:
    return {"arm": arm, "seed": seed, "best": {"label": "x", "val_f1": val, "dev_f1": dev},
            "wall_seconds": 1.0, "trial_epochs": 24, "examples_x_params": 1, "curve": []}


def test_summary_pairs_report_seeds_and_keeps_tuning_seeds_apart(tmp_path: Path) -> None:
    folder = tmp_path / "sample_r2"
    folder.mkdir()
    a = {205: 30.0, 206: 28.0, 207: 31.0, 100: 50.0, 210: 25.0}
    b = {205: 29.0, 206: 29.5, 207: 30.0, 100: 20.0, 210: 27.0}
    for arm, by_seed in (("A", a), ("B", b)):
        for seed, dev in by_seed.items():
            (folder / f"{arm}-seed{seed}.json").write_text(json.dumps(_record(arm, seed, dev, dev - 1)))
    (folder / "C-seed205.json").write_text(json.dumps(_record("C", 205, 20.0, 19.0)))  # report seeds only
    (folder / "B-seed205.drqa.part.json").write_text("{}")  # an unfinished arm's part file is not a record
    summary = svb.summarize(tmp_path, "sample_r2")
    report = summary["gaps"]["report: A-B dev_f1"]
    expected = paired_gap({s: a[s] for s in (205, 206, 207)}, {s: b[s] for s in (205, 206, 207)}).to_dict()
    assert report == expected
    assert report["mean"] == pytest.approx((1.0 - 1.5 + 1.0) / 3, abs=1e-4)  # rounded to 4 places
    assert summary["gaps"]["tuning: A-B dev_f1"]["mean"] == pytest.approx(30.0)
    # extra report seeds (fixed later, for the same design) are summarised apart and with the report seeds
    assert summary["gaps"]["extra report: A-B dev_f1"]["mean"] == pytest.approx(-2.0)
    both = summary["gaps"]["report + extra: A-B dev_f1"]
    assert sorted(both["seeds"]) == [205, 206, 207, 210] and both["mean"] == pytest.approx((1.0 - 1.5 + 1.0 - 2.0) / 4, abs=1e-4)
    assert summary["gaps"]["report: A-C dev_f1"]["mean"] == pytest.approx(10.0)
    assert not [name for name in summary["gaps"] if "extra" in name and "A-C" in name]  # C has no extra seed


@pytest.mark.slow
def test_arms_b_and_d_run_for_real_on_a_tiny_configuration(tmp_path: Path) -> None:
    """B and D on 40 questions, a budget of 6 trial-epochs: each spends exactly the budget.

    Arms A and C are the engine's own search (``run_local_search``, tested with
    real trials in test_local_search.py); B and D are this script's own loops.
    """
    pytest.importorskip("tensorflow")
    config = tmp_path / "config.yml"
    cache = tmp_path / "cache"
    config.write_text(
        "trialCommand: python trial/trial.py --size tiny --epochs 2 --patience 1 --lr 0.05 --train-limit 40 --dev-limit 12 "
        f"--val-limit 8 --max-passage-len 100 --cache-dir {cache}\n"
        "maxTrialNumber: 3\n"
        "tuner:\n  classArgs:\n    fitness: val_loss\n    search_space: {presets: [base], exact_only: true}\n",
        encoding="utf-8")
    out = tmp_path / "out"
    argv = ["--config", str(config), "--setting", "tiny", "--seeds", "7", "--out", str(out), "--arms", "B", "D"]
    svb.main([*argv, "--b-presets", "base"])
    records = svb.load_records(out, "tiny")
    assert set(records) == {"B", "D"}
    for arm, by_seed in records.items():
        record = by_seed[7]
        assert record["trial_epochs"] == record["budget_trial_epochs"] == 6, arm
        assert record["best"]["dev_f1"] is not None
    b, d = records["B"][7], records["D"][7]
    assert b["chosen"] == "base" and len(b["curve"]) == 6 and b["curve"][-1]["dev_f1"] == b["best"]["dev_f1"]
    # D: two cold starts for 1 epoch, the better by validation loss resumes its own checkpoint for 4 more,
    # every one trained although the trial command stops after 1 epoch without a better validation loss
    # and its learning rate makes one likely (the budget is spent, as B spends it)
    assert d["schedule"] == [[2, 1], [1, 5]]
    first, second, survivor = d["trials"]
    assert [t["rung"] for t in d["trials"]] == [0, 0, 1] and survivor["trial_epochs"] == 4
    kept = first if first["val_loss"] <= second["val_loss"] else second
    assert survivor["label"] == kept["label"] and survivor["warm_start"] and not first["warm_start"]
    assert (out / "tiny.png").exists()
    summary = json.loads((out.parent / "search_vs_baselines_tiny.json").read_text())["figures"]
    assert set(summary["arms"]) == {"B", "D"} and summary["gaps"] == {}  # no A, and seed 7 is no protocol seed
    # rerunning finds every record and trains nothing
    before = {p: p.stat().st_mtime_ns for p in (out / "tiny").glob("*.json")}
    svb.main(argv)
    assert {p: p.stat().st_mtime_ns for p in (out / "tiny").glob("*.json")} == before

"""``run`` states the shipped design's measured gap over report seeds beside one run's verdict."""

from __future__ import annotations

import json
from pathlib import Path

from benchmarks import search_vs_baselines as svb
from ga_squad.analysis.track_record import SHIPPED_SETTING, load_track_record, track_record_text
from ga_squad.cli.run import REPO_ROOT, track_record_line


def test_the_shipped_setting_is_the_one_config_yml_is_reported_by() -> None:
    """The setting whose report seeds the line quotes holds config.yml's tuner (A) and reports on report seeds."""
    shipped = svb.Setting.load("sample", REPO_ROOT / "config.yml")
    record = load_track_record(REPO_ROOT / "results")
    assert record is not None
    assert record.seeds == tuple(svb.REPORT_SEEDS[SHIPPED_SETTING])
    a = json.loads((REPO_ROOT / "results" / "search_vs_baselines" / SHIPPED_SETTING / "A-seed205.json").read_text())
    assert a["budget_trial_epochs"] == shipped.trials * shipped.trial_config().train.epochs


def test_the_line_quotes_the_committed_summary(tmp_path: Path) -> None:
    gap = {"seeds": [7, 8, 9], "gaps": [1.0, -2.0, 0.5], "mean": -0.1667, "ci95": [-1.5, 0.9], "wins": 2}
    (tmp_path / f"search_vs_baselines_{SHIPPED_SETTING}.json").write_text(
        json.dumps({"figures": {"gaps": {"report: A-B dev_f1": gap}}}), encoding="utf-8")
    text = track_record_text(load_track_record(tmp_path))
    assert "report seeds 7, 8, 9" in text and "dev F1 -0.17 [-1.50, +0.90], ahead on 2 of 3" in text


def test_nothing_is_said_without_a_record_or_for_another_configuration(tmp_path: Path) -> None:
    assert load_track_record(tmp_path) is None
    (tmp_path / f"search_vs_baselines_{SHIPPED_SETTING}.json").write_text('{"figures": {"gaps": {}}}')
    assert load_track_record(tmp_path) is None
    assert track_record_line(REPO_ROOT / "benchmarks" / "configs" / "design_grow1_drqa.yml") is None
    line = track_record_line(REPO_ROOT / "config.yml")
    assert line is not None and "single draw" in line


def test_a_gap_read_back_from_its_dict_is_the_same_gap() -> None:
    from ga_squad.analysis.paired import PairedGap, paired_gap

    gap = paired_gap({1: 3.0, 2: 1.0, 3: 2.5}, {1: 2.0, 2: 2.0, 3: 2.0})
    back = PairedGap.from_dict(gap.to_dict())
    assert back.to_dict() == gap.to_dict() and back.text() == gap.text() and back.wins == 2

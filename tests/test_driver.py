"""In-process driver: NNI's protocol semantics, utilization accounting, failures, concurrency changes."""

from __future__ import annotations

import random
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from ga_squad.sim.driver import (
    DriverConfig,
    TrialFailure,
    TrialOutcome,
    parents_reported_first,
    simulate,
)
from ga_squad.sim.threaded import run_threaded
from tuner.ga_tuner import GaSquadTuner


class FixedTuner:
    """Serves every request at once with trivial parameters; records the calls."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int]] = []

    def generate_multiple_parameters(self, parameter_id_list: list[int], **kwargs: Any) -> list[Any]:
        assert "st_callback" in kwargs
        self.calls += [("generate", pid) for pid in parameter_id_list]
        return [{"pid": pid} for pid in parameter_id_list]

    def receive_trial_result(self, parameter_id: int, parameters: Any, value: Any, **kwargs: Any) -> None:
        assert parameters == {"pid": parameter_id}
        self.calls.append(("result", parameter_id))

    def trial_end(self, parameter_id: int, success: bool, **kwargs: Any) -> None:
        self.calls.append(("end", parameter_id))


def test_full_utilization_with_equal_durations() -> None:
    result = simulate(FixedTuner(), lambda p: (10.0, 1.0), DriverConfig(concurrency=4, max_trials=12))
    assert len(result.records) == 12
    assert result.wall == 30.0 and result.utilization == 1.0


def test_result_comes_before_end_unless_asked_otherwise() -> None:
    tuner = FixedTuner()
    simulate(tuner, lambda p: (1.0, 0.5), DriverConfig(concurrency=1, max_trials=2))
    assert tuner.calls[:4] == [("generate", 0), ("result", 0), ("end", 0), ("generate", 1)]
    tuner = FixedTuner()
    simulate(tuner, lambda p: (1.0, 0.5), DriverConfig(concurrency=1, max_trials=1, end_before_result=True))
    assert tuner.calls == [("generate", 0), ("end", 0), ("result", 0)]


def test_failures_and_missing_results() -> None:
    def trial(params: Mapping[str, Any]) -> TrialOutcome:
        if params["pid"] == 1:
            raise TrialFailure(after=2.0)
        if params["pid"] == 2:
            raise RuntimeError("boom")
        return TrialOutcome(1.0, None if params["pid"] == 3 else 0.5)

    result = simulate(FixedTuner(), trial, DriverConfig(concurrency=2, max_trials=5))
    by_pid = {r.parameter_id: r for r in result.records}
    assert not by_pid[1].succeeded and by_pid[1].duration == 2.0
    assert not by_pid[2].succeeded and by_pid[2].duration == 0.0
    assert by_pid[3].succeeded and by_pid[3].reported_at is None


def test_concurrency_change_is_applied() -> None:
    config = DriverConfig(concurrency=2, max_trials=80, concurrency_changes=((5.0, 6), (20.0, 1)))
    result = simulate(FixedTuner(), lambda p: (2.0, 1.0), config)
    assert len(result.records) == 80

    def running_at(t: float) -> int:
        return sum(r.started_at <= t < r.ended_at for r in result.records)

    assert (running_at(1.0), running_at(7.0), running_at(30.0)) == (2, 6, 1)


def test_ga_tuner_in_the_simulator_keeps_parents_first(tmp_path: Path) -> None:
    rng = random.Random(0)
    tuner = GaSquadTuner(save_dir_root=str(tmp_path), population_size=3, seed=1, experiment_id="sim")
    config = DriverConfig(concurrency=5, max_trials=60)
    result = simulate(tuner, lambda p: TrialOutcome(rng.uniform(1, 5), {"default": rng.random()}), config)
    assert len(result.records) == 60
    assert parents_reported_first(result) == []
    assert result.utilization > 0.8


def test_threaded_mode_runs_real_trials_on_two_dispatcher_threads(tmp_path: Path) -> None:
    tuner = GaSquadTuner(save_dir_root=str(tmp_path), population_size=2, seed=1, experiment_id="thr")

    def trial(params: Mapping[str, Any]) -> Any:
        if params["indiv_id"] % 5 == 4:
            raise RuntimeError("injected")
        return {"default": random.Random(params["seed"]).random()}

    result = run_threaded(tuner, trial, concurrency=4, max_trials=40, timeout=60)
    assert len(result.records) == 40
    assert parents_reported_first(result) == []
    stats = tuner.stats()
    assert stats.failed >= 1 and stats.running <= 4


def test_driver_config_validation() -> None:
    with pytest.raises(ValueError):
        DriverConfig(concurrency=0, max_trials=1)
    with pytest.raises(ValueError):
        DriverConfig(concurrency=1, max_trials=1, concurrency_changes=((1.0, 0),))
    with pytest.raises(ValueError):
        TrialOutcome(-1.0)

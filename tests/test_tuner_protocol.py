"""GaSquadTuner driven through NNI's tuner protocol with fake metrics (cf. NNI's test_builtin_tuners)."""

from __future__ import annotations

import logging
import random
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import nni
import pytest

from ga_squad.store.contract import TrialParams
from ga_squad.search.evolution import Status
from ga_squad.sim.driver import DriverConfig, TrialOutcome, parents_reported_first, simulate
from ga_squad.store.journal import read_events, replay
from tuner.ga_tuner import GaSquadTuner, resolve_experiment_id

REPO = Path(__file__).resolve().parents[1]


def make_tuner(tmp_path: Path, **kw: Any) -> GaSquadTuner:
    args: dict[str, Any] = {"save_dir_root": str(tmp_path), "population_size": 2, "seed": 4,
                            "experiment_id": "proto", "min_layers": 1, "max_layers": 6}
    args.update(kw)
    return GaSquadTuner(**args)


class Callback:
    def __init__(self) -> None:
        self.sent: list[tuple[int, dict]] = []

    def __call__(self, parameter_id: int, params: dict) -> None:
        self.sent.append((parameter_id, params))


def test_protocol_round_trip_with_population_smaller_than_concurrency(tmp_path: Path) -> None:
    tuner = make_tuner(tmp_path)
    tuner.update_search_space({})
    send = Callback()
    started = time.perf_counter()
    params = tuner.generate_multiple_parameters([0, 1, 2, 3], st_callback=send)
    assert time.perf_counter() - started < 1.0  # never blocks
    assert len(params) == 2 and send.sent == []
    for p in params:
        contract = TrialParams.from_dict(p, storage_root=tmp_path)
        assert contract.parent_id is None and contract.restore_dir is None and contract.shared_ids is None
        assert Path(contract.save_dir).is_relative_to(tmp_path / "proto")
    tuner.receive_trial_result(0, params[0], {"default": 0.42, "f1": 0.42, "em": 0.3})
    assert [pid for pid, _ in send.sent] == [2, 3]
    for _, child in send.sent:
        assert child["parent_id"] == params[0]["indiv_id"]
        assert child["restore_dir"] == params[0]["save_dir"]
    tuner.trial_end(0, True)
    tuner.receive_trial_result(1, params[1], 0.5)  # plain numbers are accepted too
    tuner.trial_end(1, True)
    assert tuner.stats().reported == 2
    tuner._on_exit()
    events = read_events(tuner.layout.journal_path)
    reported = [e for e in events if e["event"] == "reported"]
    assert reported[0]["result"] == {"default": 0.42, "f1": 0.42, "em": 0.3}


def test_generate_parameters_raises_instead_of_waiting(tmp_path: Path) -> None:
    tuner = make_tuner(tmp_path, population_size=1)
    first = tuner.generate_parameters(0)
    with pytest.raises(nni.NoMoreTrialError):
        tuner.generate_parameters(1)
    tuner.receive_trial_result(0, first, 0.3)
    assert tuner.generate_parameters(2)["parent_id"] == first["indiv_id"]


def test_customized_trials_are_ignored(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    tuner = make_tuner(tmp_path)
    send = Callback()
    served = tuner.generate_multiple_parameters([0, 1, 2], st_callback=send)  # 2 waits for a parent
    with caplog.at_level(logging.INFO, logger="ga_squad.store.protocol"):
        # a customized trial that reuses a served id's parameters must not stand in for its result
        tuner.receive_trial_result(0, served[0], {"default": 0.9}, customized=True)
    assert any(r.levelno == logging.INFO and "customized trial 0 ignored" in r.getMessage()
               for r in caplog.records), caplog.text
    assert send.sent == [] and tuner.engine.waiting == (2,)  # nothing dispatched on its account
    assert tuner.engine.individual(served[0]["indiv_id"]).status is Status.DISPATCHED
    tuner._on_exit()
    assert not [e for e in read_events(tuner.layout.journal_path) if e["event"] == "reported"]


def test_failed_initial_population_is_regenerated(tmp_path: Path) -> None:
    tuner = make_tuner(tmp_path)
    send = Callback()
    tuner.generate_multiple_parameters([0, 1, 2], st_callback=send)
    tuner.trial_end(0, False)
    tuner.trial_end(1, True)  # ended without a final result
    assert [pid for pid, _ in send.sent] == [2]
    assert send.sent[0][1]["parent_id"] is None
    assert tuner.stats().failed == 2 and tuner.stats().regenerated == 1


@pytest.mark.parametrize("population,concurrency", [(1, 6), (3, 8), (10, 4)])
def test_searches_complete_with_any_population_and_concurrency(
        tmp_path: Path, population: int, concurrency: int) -> None:
    rng = random.Random(population)
    tuner = make_tuner(tmp_path, population_size=population)

    def trial(params: dict) -> TrialOutcome:
        if rng.random() < 0.15:
            return TrialOutcome(rng.uniform(1, 3), None, succeeded=False)
        return TrialOutcome(rng.uniform(1, 9), {"default": len(params["graph"]["layers"]) + rng.random()})

    config = DriverConfig(concurrency=concurrency, max_trials=80,
                          concurrency_changes=((15.0, concurrency + 3), (40.0, 2)), end_before_result=False)
    result = simulate(tuner, trial, config)
    assert len(result.records) == 80  # nothing stranded: every requested slot got a trial
    assert parents_reported_first(result) == []
    tuner._on_exit()
    records = replay(read_events(tuner.layout.journal_path))
    assert len(records) == tuner.engine.next_id


def test_resume_continues_ids_and_lineage(tmp_path: Path) -> None:
    rng = random.Random(1)
    first = make_tuner(tmp_path, population_size=3)
    result = simulate(first, lambda p: TrialOutcome(rng.uniform(1, 4), rng.random()),
                      DriverConfig(concurrency=3, max_trials=15))
    first._on_exit()
    used = {r.params["indiv_id"] for r in result.records}
    second = make_tuner(tmp_path, population_size=3)
    assert second.engine.session == 1
    assert len(second.engine.population()) == 3
    second.import_data([{"parameter": result.records[0].params, "value": 0.1}])  # already known: ignored
    assert second.stats().reported == 0
    result2 = simulate(second, lambda p: TrialOutcome(rng.uniform(1, 4), rng.random()),
                       DriverConfig(concurrency=3, max_trials=10))
    second._on_exit()
    new_ids = {r.params["indiv_id"] for r in result2.records}
    assert not used & new_ids and min(new_ids) > max(used)
    parents = {r.params["parent_id"] for r in result2.records}
    assert parents & used  # the resumed search builds on the first session's population
    assert len(replay(read_events(second.layout.journal_path))) == len(used) + len(new_ids)


def test_experiment_id_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NNI_EXP_ID", raising=False)
    monkeypatch.setenv("NNI_CHECKPOINT_DIRECTORY", str(tmp_path / "abc123XY" / "checkpoint"))
    assert resolve_experiment_id() == "abc123XY"
    monkeypatch.setenv("NNI_EXP_ID", "fromenv")
    assert resolve_experiment_id() == "fromenv"
    assert resolve_experiment_id("explicit") == "explicit"


def test_importable_the_way_nni_loads_code_directories(tmp_path: Path) -> None:
    code = ("import sys; sys.path.append(sys.argv[1]); import importlib; "
            "m = importlib.import_module('ga_tuner'); print(m.GaSquadTuner.__name__)")
    done = subprocess.run([sys.executable, "-c", code, str(REPO / "tuner")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "GaSquadTuner"

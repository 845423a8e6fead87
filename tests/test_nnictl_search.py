"""A real NNI experiment (nnictl, local training service) with the trivial trial.

The one slow test of the search side. It checks, from NNI's own trial
records and from the lineage journal, that every child was dispatched after
its parent's final result, that a failing trial strands nothing, that a
stopped experiment resumes without reusing ids or losing lineage, and that
nothing of the experiment survives ``nnictl stop``.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ga_squad.launch.experiment import Experiment, ExperimentSpec, experiment_processes, free_port
from ga_squad.search.evolution import Status
from ga_squad.store.journal import read_events, replay
from ga_squad.store.paths import SearchLayout

REPO = Path(__file__).resolve().parents[1]
MAX_TRIALS = 12
FAILING_INDIVIDUAL = 3



def test_spec_builds_an_nni_v2_config(tmp_path: Path) -> None:
    spec = ExperimentSpec(
        trial_command="python t.py", trial_code_directory=tmp_path, tuner_code_directory=REPO,
        tuner_class_args={"save_dir_root": str(tmp_path), "population_size": 4},
        working_directory=tmp_path / "w", trial_concurrency=2, max_trial_number=5,
    )
    config = spec.to_config()
    assert config["tuner"] == {"codeDirectory": str(REPO), "className": "tuner.ga_tuner.GaSquadTuner",
                               "classArgs": {"save_dir_root": str(tmp_path), "population_size": 4}}
    assert (config["trialConcurrency"], config["maxTrialNumber"]) == (2, 5)
    assert config["trainingService"] == {"platform": "local"}  # useActiveGpu is the caller's, not forced
    assert "maxExperimentDuration" not in config
    written = json.loads(spec.write_config(tmp_path / "c.yml").read_text())
    assert written == config
    with pytest.raises(ValueError):
        ExperimentSpec("x", tmp_path, REPO, {}, tmp_path, trial_concurrency=0)


def test_free_port_is_bindable() -> None:
    import socket

    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.fixture
def spec(tmp_path: Path) -> ExperimentSpec:
    return ExperimentSpec(
        trial_command=f"{sys.executable} trivial_trial.py",
        trial_code_directory=REPO / "tests" / "fixtures",
        tuner_code_directory=REPO,
        tuner_class_args={
            "save_dir_root": str(tmp_path / "store"),
            "optimize_mode": "maximize",
            # smaller than the concurrency: requests are deferred and must be
            # emitted later through NNI's st_callback
            "population_size": 2,
            "min_layers": 1,
            "max_layers": 6,
            "seed": 7,
        },
        working_directory=tmp_path / "nni",
        trial_concurrency=3,
        max_trial_number=MAX_TRIALS,
        max_experiment_duration="10m",
        # keep nnictl's experiment registry out of the real home; inject one failure
        env={"HOME": str(tmp_path / "home"), "GA_SQUAD_FAIL_IDS": str(FAILING_INDIVIDUAL)},
    )




@pytest.mark.nni
def test_search_under_nnictl_stop_resume_done(spec: ExperimentSpec, experiments: list[Experiment]) -> None:
    # --- session 0: run until a few trials succeeded, then stop -----------------------
    first = Experiment.create(spec)
    experiments.append(first)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if sum(t["status"] == "SUCCEEDED" for t in first.trials()) >= 5:
            break
        assert first.status() != "ERROR", first.check_status()
        time.sleep(0.5)
    else:
        pytest.fail(f"fewer than 5 trials succeeded in 120 s: {first.trials()}")
    first.stop()
    assert experiment_processes(first.id, spec.working_directory / first.id) == []

    # --- session 1: resume and run to DONE ----------------------------------------------
    second = Experiment.resume(spec, first.id)
    experiments.append(second)
    assert second.wait(timeout=180, poll=1.0) == "DONE"
    trials = second.trials()
    second.stop()
    assert experiment_processes(first.id, spec.working_directory / first.id) == []

    # --- NNI's view --------------------------------------------------------------------------
    # NNI 3.0's local training service hands parameters to trials in the order
    # they ask (nni_node/training_service/v3/compat.js), not by the trial's form,
    # so a trial record's hyperParameters may belong to another trial started at
    # the same time. The final metric carries the ids the trial really ran.
    assert len(trials) >= MAX_TRIALS
    ran: dict[int, tuple[dict[str, Any], dict[str, Any]]] = {}  # indiv -> (metric, trial record)
    for trial in trials:
        for metric in trial.get("finalMetricData") or []:
            value = json.loads(json.loads(metric["data"]))
            ran[value["indiv_id"]] = (value | {"timestamp": float(metric["timestamp"])}, trial)
    failed = [t for t in trials if t["status"] == "FAILED"]
    # the injected failure is the only one: no child ever missed its parent's checkpoint
    assert len(failed) == 1 and not failed[0].get("finalMetricData")
    assert FAILING_INDIVIDUAL not in ran
    for indiv_id, (metric, trial) in ran.items():
        if metric["parent_id"] is None:
            continue
        parent_metric, _ = ran[metric["parent_id"]]
        assert trial["startTime"] >= parent_metric["timestamp"], (
            f"individual {indiv_id} started before parent {metric['parent_id']} reported")

    # --- the journal's view ------------------------------------------------------------------
    layout = SearchLayout.for_experiment(spec.tuner_class_args["save_dir_root"], first.id)
    events = read_events(layout.journal_path)
    records = replay(events)
    assert {e["session"] for e in events} == {0, 1}
    assert any(e["event"] == "resumed" for e in events)
    assert set(records) == set(range(len(records)))  # ids contiguous, never reused
    assert set(ran) <= set(records)  # every trial NNI ran is in the lineage
    assert all(records[i].status is Status.REPORTED for i in ran)
    for indiv_id, record in records.items():
        if record.parent_id is None:
            continue
        parent = records[record.parent_id]
        assert parent.reported_at is not None and record.dispatched_at is not None
        assert parent.reported_at <= record.dispatched_at
        assert record.shared_ids == record.graph.shared_ids(parent.graph)
    assert records[FAILING_INDIVIDUAL].status is Status.FAILED
    assert any(e["event"] == "deferred" for e in events)  # st_callback path was exercised
    reported = [r for r in records.values() if r.status is Status.REPORTED]
    assert all({"default", "f1", "em"} <= set(r.result) for r in reported)
    assert all((Path(r.save_dir) / "checkpoint.json").is_file() for r in reported)

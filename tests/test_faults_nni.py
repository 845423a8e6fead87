"""kill -9 of NNI's dispatcher (the tuner) or manager mid-search, then ``nnictl resume``.

Real processes of the experiment this test started (found by its id and
folder through :func:`ga_squad.launch.experiment.experiment_processes`,
never by a name pattern) are killed with SIGKILL. After the resumed search
finishes, from NNI's records, the journal and the storage:

* no completed result is lost: every individual a trial reported (NNI's
  final metrics) and every individual with a complete published checkpoint
  is REPORTED in the lineage;
* no lineage entry is lost: every individual journaled before the kill is
  still there, with its parent;
* ids stay unique and contiguous across the sessions.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from ga_squad.launch.experiment import Experiment, ExperimentError, ExperimentSpec, experiment_processes
from ga_squad.store import checkpoint_store as store
from ga_squad.search.evolution import Status
from ga_squad.store.journal import read_events, replay
from ga_squad.store.paths import SearchLayout

REPO = Path(__file__).resolve().parents[1]
MAX_TRIALS = 8


def spec_for(tmp_path: Path) -> ExperimentSpec:
    return ExperimentSpec(
        trial_command=f"{sys.executable} publishing_trial.py",
        trial_code_directory=REPO / "tests" / "fixtures",
        tuner_code_directory=REPO,
        tuner_class_args={"save_dir_root": str(tmp_path / "store"), "population_size": 2, "min_layers": 1,
                          "max_layers": 6, "seed": 5, "keep": 1},
        working_directory=tmp_path / "nni",
        trial_concurrency=3,
        max_trial_number=MAX_TRIALS,
        max_experiment_duration="5m",
        env={"HOME": str(tmp_path / "home")},
    )


def role(pid: int, experiment_id: str) -> str:
    """``dispatcher``, ``manager`` or ``trial`` for a pid of our experiment."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return "gone"
    if b"SDK_PROCESS=dispatcher" in environ:
        return "dispatcher"
    if b"nni_node" in cmdline and experiment_id.encode() in cmdline:
        return "manager"
    return "trial"


def kill_role(experiment: Experiment, which: str) -> int:
    pids = [p for p in experiment_processes(experiment.id, experiment.spec.working_directory / experiment.id)
            if role(p, experiment.id) == which]
    assert len(pids) >= 1, f"no {which} process of {experiment.id}"
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    return pids[0]




def wait_succeeded(experiment: Experiment, count: int, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if sum(t["status"] == "SUCCEEDED" for t in experiment.trials()) >= count:
            return
        time.sleep(0.3)
    pytest.fail(f"fewer than {count} trials succeeded in {timeout} s")


def final_metrics(trials: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    found = {}
    for trial in trials:
        for metric in trial.get("finalMetricData") or []:
            value = json.loads(json.loads(metric["data"]))
            found[value["indiv_id"]] = value
    return found


@pytest.mark.nni
@pytest.mark.slow
@pytest.mark.parametrize("victim", ["dispatcher", "manager"])
def test_kill_9_then_resume_loses_no_result(tmp_path: Path, experiments: list[Experiment], victim: str) -> None:
    spec = spec_for(tmp_path)
    first = Experiment.create(spec)
    experiments.append(first)
    wait_succeeded(first, 3)
    seen_by_nni = final_metrics(first.trials())
    kill_role(first, victim)
    layout = SearchLayout.for_experiment(spec.tuner_class_args["save_dir_root"], first.id)
    time.sleep(1.0)  # trials still running may publish (and report into the void)
    before = replay(read_events(layout.journal_path))
    first.stop()  # nnictl stop (or, the manager being dead, SIGKILL of what is left)

    second = Experiment.resume(spec, first.id)
    experiments.append(second)
    try:
        second.wait(timeout=150, poll=1.0)
    except ExperimentError as exc:  # pragma: no cover - diagnostics
        pytest.fail(f"resumed experiment failed: {exc}")
    seen_by_nni |= final_metrics(second.trials())
    second.stop()

    events = read_events(layout.journal_path)
    records = replay(events)
    assert {e["session"] for e in events} >= {0, 1} and any(e["event"] == "resumed" for e in events)
    assert set(records) == set(range(len(records)))  # unique, contiguous ids across sessions
    for indiv_id, record in before.items():  # no lineage entry lost
        assert records[indiv_id].parent_id == record.parent_id and records[indiv_id].graph == record.graph
    lost = [i for i in seen_by_nni if records[i].status is not Status.REPORTED]
    assert lost == [], f"results NNI received but the lineage lacks: {lost}"
    published = [i for i in records if store.published_metrics(layout.individual_dir(i), i) is not None]
    unadopted = [i for i in published if records[i].status is not Status.REPORTED]
    assert unadopted == [], f"complete checkpoints whose result was not recovered: {unadopted}"
    for record in records.values():
        if record.parent_id is not None:
            assert records[record.parent_id].status is Status.REPORTED

"""A trial's end overtaking its final result inside NNI 3.0's real dispatcher: no failure is declared.

NNI's manager sends a trial's final metric, then its end, over one websocket;
``MsgDispatcherBase.enqueue_command`` queues the metric for the default
thread and the end for the assessor thread, so the end can be handled first.
The tuner used to declare the individual failed and undo it when the result
came (``results/faults.json``: 32 of 200 individuals). Here NNI's own
``MsgDispatcher`` (its unit-test channel, no manager) gets both commands in
the manager's order and the end is processed first, as the race does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from nni.common import dump
from nni.runtime.msg_dispatcher import MsgDispatcher
from nni.runtime.tuner_command_channel import CommandType

from ga_squad.search.evolution import Status
from ga_squad.store.journal import read_events
from tuner.ga_tuner import GaSquadTuner


def dispatcher_with_trials(tmp_path: Path, count: int) -> tuple[MsgDispatcher, GaSquadTuner, list[dict[str, Any]]]:
    tuner = GaSquadTuner(save_dir_root=str(tmp_path), population_size=count, seed=4, experiment_id="race",
                         min_layers=1, max_layers=6)
    dispatcher = MsgDispatcher(f"ws://_unittest_{tmp_path.name}", tuner)
    sent: list[tuple[Any, str]] = []
    dispatcher.send = lambda command, data: sent.append((command, data))  # type: ignore[method-assign]
    dispatcher.handle_request_trial_jobs(count)
    jobs = [data for command, data in sent if command == CommandType.NewTrialJob]
    return dispatcher, tuner, jobs


def metric(job: str, packed: str, value: dict[str, Any]) -> dict[str, Any]:
    return {"parameter_id": json.loads(packed)["parameter_id"], "trial_job_id": job, "type": "FINAL",
            "sequence": 0, "value": dump(value)}


def end(job: str, packed: str, event: str) -> dict[str, Any]:
    return {"trial_job_id": job, "event": event, "hyper_params": packed}


def test_an_end_handled_before_its_queued_result_declares_no_failure(tmp_path: Path) -> None:
    dispatcher, tuner, jobs = dispatcher_with_trials(tmp_path, 2)
    ids = [json.loads(p)["parameters"]["indiv_id"] for p in jobs]
    # J0 reported and exited 0; J1 reported and then exited 1 (its result counts all the same)
    for job, packed, indiv, event in (("J0", jobs[0], ids[0], "SUCCEEDED"), ("J1", jobs[1], ids[1], "FAILED")):
        dispatcher.enqueue_command(CommandType.ReportMetricData, metric(job, packed, {"default": 0.4, "indiv_id": indiv}))
        dispatcher.enqueue_command(CommandType.TrialEnd, end(job, packed, event))
    while not dispatcher.assessor_command_queue.empty():  # the race: both ends first
        dispatcher.process_command(*dispatcher.assessor_command_queue.get_nowait())
    assert all(tuner.engine.individual(i).status is Status.DISPATCHED for i in ids)  # waiting, not failed
    while not dispatcher.default_command_queue.empty():
        dispatcher.process_command(*dispatcher.default_command_queue.get_nowait())
    tuner.close()
    events = read_events(tmp_path / "race" / "lineage.jsonl")
    assert [e for e in events if e["event"] == "failed"] == []
    assert [e.get("result_in_flight") for e in events if e["event"] == "ended"] == [True, True]
    assert [e["late"] for e in events if e["event"] == "reported"] == [False, False]
    assert all(tuner.engine.individual(i).status is Status.REPORTED for i in ids)


def test_an_end_without_a_queued_result_still_fails_at_once(tmp_path: Path) -> None:
    dispatcher, tuner, jobs = dispatcher_with_trials(tmp_path, 1)
    indiv = json.loads(jobs[0])["parameters"]["indiv_id"]
    dispatcher.enqueue_command(CommandType.TrialEnd, end("J0", jobs[0], "FAILED"))
    dispatcher.process_command(*dispatcher.assessor_command_queue.get_nowait())
    assert tuner.engine.individual(indiv).status is Status.FAILED  # its slot is free for a new trial
    tuner.close()

"""Lineage journal: writing, tolerant reading, replay, and resuming an engine from it."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from ga_squad.store.engine import SearchEngine
from ga_squad.search.evolution import EvolutionConfig, Status
from ga_squad.search.graph import base_reader
from ga_squad.store.journal import Journal, read_events, replay, report_order
from ga_squad.store.paths import SearchLayout


def layout(tmp_path: Path) -> SearchLayout:
    return SearchLayout.for_experiment(tmp_path, "exp")


def test_append_writes_one_flushed_line_per_event(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "j.jsonl", clock=lambda: 12.5)
    journal.append("deferred", parameter_id=3)
    # readable by another reader before close: flushed per event
    assert read_events(tmp_path / "j.jsonl") == [{"event": "deferred", "time": 12.5, "parameter_id": 3}]
    with journal.batch():
        journal.append("deferred", parameter_id=4)
        journal.append("deferred", parameter_id=5)
    journal.close()
    assert [e["parameter_id"] for e in read_events(tmp_path / "j.jsonl")] == [3, 4, 5]
    with pytest.raises(RuntimeError, match="closed"):
        journal.append("deferred", parameter_id=6)


def test_unknown_event_kind_is_refused(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.jsonl") as journal, pytest.raises(ValueError, match="unknown journal event"):
        journal.append("exploded")


def test_reader_skips_a_truncated_last_line(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "j.jsonl"
    with Journal(path) as journal:
        journal.append("deferred", parameter_id=1)
    with path.open("a") as handle:
        handle.write('{"event": "reported", "indiv_id": 3, "val')  # crash mid-write
    with caplog.at_level(logging.WARNING):
        events = read_events(path)
    assert [e["event"] for e in events] == ["deferred"]
    assert "truncated" in caplog.text


def test_missing_journal_reads_empty(tmp_path: Path) -> None:
    assert read_events(tmp_path / "nope.jsonl") == []


def _generated(indiv_id: int, parent_id: int | None = None) -> dict:
    return {"event": "generated", "time": float(indiv_id), "indiv_id": indiv_id, "parent_id": parent_id,
            "graph": base_reader().to_dict(), "shared_ids": None if parent_id is None else ["a"],
            "mutation": "m", "origin": "initial" if parent_id is None else "child", "seed": 1}


def test_replay_rules() -> None:
    events = [
        _generated(0), {"event": "dispatched", "indiv_id": 0, "parameter_id": 0, "time": 1.0},
        _generated(1), {"event": "dispatched", "indiv_id": 1, "parameter_id": 1, "time": 1.5},
        {"event": "reported", "indiv_id": 1, "value": 0.4, "result": {"default": 0.4, "f1": 0.4}, "time": 2.0},
        {"event": "failed", "indiv_id": 0, "reason": "no_final_result", "time": 2.5},
        {"event": "reported", "indiv_id": 0, "value": 0.6, "result": {"default": 0.6}, "late": True, "time": 3.0},
        _generated(2, parent_id=1),
        {"event": "failed", "indiv_id": 1, "reason": "failed", "time": 3.5},  # after its report: kept
        {"event": "reported", "indiv_id": 99, "value": 1.0, "time": 4.0},  # unknown: skipped
        {"event": "retired", "indiv_id": 1, "time": 5.0},
    ]
    records = replay(events)
    assert list(records) == [0, 1, 2]
    assert records[0].status is Status.REPORTED and records[0].value == 0.6 and records[0].failure == "no_final_result"
    assert records[1].status is Status.REPORTED and records[1].result["f1"] == 0.4 and records[1].retired_at == 5.0
    assert records[2].status is Status.GENERATED and records[2].parent_id == 1
    assert records[2].shared_ids == frozenset({"a"})
    assert records[1].to_individual().result == 0.4
    assert report_order(events) == [1, 0, 99]


def _run_some(engine: SearchEngine) -> None:
    ready = engine.request([0, 1, 2])
    assert [pid for pid, _ in ready] == [0, 1]  # population 2: third waits
    engine.report(0, {"default": 0.5, "f1": 0.5, "em": 0.4})
    engine.end(0, True)
    engine.report(1, 0.7)
    engine.end(1, True)
    more = engine.request([3, 4])  # id 2 (child) already out; 3,4 children too
    assert len(more) == 2


def test_resume_restores_population_and_next_id(tmp_path: Path) -> None:
    config = EvolutionConfig(population_size=2, seed=5)
    lay = layout(tmp_path)
    first = SearchEngine(config, lay, Journal(lay.journal_path))
    _run_some(first)
    first.report(3, 0.9)  # individual of parameter 3 reports; 2 and 4 are still running
    before = {i.indiv_id: i for i in first.individuals()}
    population_before = [m.indiv_id for m in first.population()]
    first.close()

    second = SearchEngine(config, lay, Journal(lay.journal_path))
    assert second.session == 1
    assert second.next_id == max(before) + 1
    assert [m.indiv_id for m in second.population()] == population_before
    after = {i.indiv_id: i for i in second.individuals()}
    assert set(after) == set(before)
    lost = [i for i, ind in before.items() if ind.status is Status.DISPATCHED]
    assert lost and all(after[i].status is Status.FAILED for i in lost)
    # new ids continue, never reused
    ready = second.request([0, 1])  # NNI may reuse parameter ids in a resumed session
    assert [p["indiv_id"] for _, p in ready] == [second.next_id - 2, second.next_id - 1]
    assert all(p["parent_id"] in population_before for _, p in ready)
    second.close()

    events = read_events(lay.journal_path)
    resumed = [e for e in events if e["event"] == "resumed"]
    assert resumed and resumed[0]["lost"] == lost and resumed[0]["population"] == population_before
    assert {e["session"] for e in events} == {0, 1}
    # the notebook's view: the full lineage survives both sessions
    records = replay(events)
    assert set(records) == set(after) | {p["indiv_id"] for _, p in ready}


def test_resume_accepts_results_nni_replays_for_lost_trials(tmp_path: Path) -> None:
    config = EvolutionConfig(population_size=2, seed=5)
    lay = layout(tmp_path)
    first = SearchEngine(config, lay, Journal(lay.journal_path))
    (pid, params), _ = first.request([0, 1])
    first.close()
    second = SearchEngine(config, lay, Journal(lay.journal_path))
    assert second.individual(params["indiv_id"]).status is Status.FAILED
    second.import_result(params, {"default": 0.3})  # NNI re-ran it and replays its result
    assert second.individual(params["indiv_id"]).status is Status.REPORTED
    assert [m.indiv_id for m in second.population()] == [params["indiv_id"]]
    second.import_result(params, {"default": 0.3})  # duplicates are ignored
    assert second.stats().reported == 1
    second.close()
    assert replay(read_events(lay.journal_path))[params["indiv_id"]].status is Status.REPORTED


def test_import_credits_the_individual_the_metric_names_not_the_swapped_form(tmp_path: Path) -> None:
    # NNI 3.0 may swap parameters between trials started together, and on
    # resume it replays each trial's form parameters with the metric the trial
    # really reported. The CI run that caught this saw a failed individual
    # turned REPORTED by its neighbour's metric.
    config = EvolutionConfig(population_size=2, seed=5)
    lay = layout(tmp_path)
    first = SearchEngine(config, lay, Journal(lay.journal_path))
    (pid_a, a), (pid_b, b) = first.request([0, 1])
    first.end(pid_a, success=False)  # a really failed
    first.report(pid_b, {"default": 0.4, "indiv_id": b["indiv_id"]})
    first.close()
    second = SearchEngine(config, lay, Journal(lay.journal_path))
    # the form of a's trial, with b's metric
    second.import_result(a, {"default": 0.4, "indiv_id": b["indiv_id"]})
    assert second.individual(a["indiv_id"]).status is Status.FAILED
    assert second.individual(b["indiv_id"]).status is Status.REPORTED
    assert second.stats().reported == 0  # b was already known: nothing new
    # a metric naming an individual unknown here cannot borrow another's parameters
    second.import_result(a, {"default": 0.9, "indiv_id": 77})
    assert 77 not in {i.indiv_id for i in second.individuals()} and second.stats().ignored == 1
    second.close()
    records = replay(read_events(lay.journal_path))
    assert records[a["indiv_id"]].status is Status.FAILED


def test_import_adopts_individuals_missing_from_the_journal(tmp_path: Path) -> None:
    config = EvolutionConfig(population_size=2, seed=5)
    other = SearchEngine(config, layout(tmp_path))
    (_, params), _ = other.request([0, 1])
    engine = SearchEngine(config, layout(tmp_path))  # no journal at all
    engine.import_result(params, 0.8)
    assert engine.individual(params["indiv_id"]).result == 0.8
    assert engine.next_id == params["indiv_id"] + 1
    engine.import_result({"indiv_id": 50, "graph": "garbage", "save_dir": "/etc"}, 0.1)
    assert engine.stats().ignored == 1


def test_journal_lines_are_valid_json_objects(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    engine = SearchEngine(EvolutionConfig(population_size=2), lay, Journal(lay.journal_path))
    _run_some(engine)
    engine.close()
    for line in lay.journal_path.read_text().splitlines():
        event = json.loads(line)
        assert {"event", "time", "session"} <= set(event)


def test_the_retrained_best_of_a_loss_ranked_search_is_its_best_validation_f1(tmp_path: Path) -> None:
    """``reader_quality.py --journal`` retrains the graph with the best validation F1.

    A search ranked by ``val_loss`` records the loss as the event's ``value``;
    taking the largest value would retrain its *worst* graph.
    """
    from benchmarks.reader_quality import best_of_journal

    path = tmp_path / "lineage.jsonl"
    with Journal(path) as journal:
        journal.append("search", fitness={"key": "val_loss", "mode": "minimize"})
        for indiv_id, loss, f1 in ((0, 7.9, 12.0), (1, 5.1, 44.6), (2, 9.4, 3.0)):
            journal.append("generated", **{k: v for k, v in _generated(indiv_id).items() if k not in ("event", "time")})
            journal.append("reported", indiv_id=indiv_id, value=loss, result={"default": f1, "val_loss": loss})
    _, extra = best_of_journal(str(path))
    assert extra == {"indiv_id": 1, "search_f1": 44.6}

"""Search engine: parent gating, deferral, faults, thread safety (incl. random interleavings)."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ga_squad.search.contract import TrialParams
from ga_squad.search.engine import SearchEngine
from ga_squad.search.evolution import EvolutionConfig, Status
from ga_squad.search.journal import Journal, read_events
from ga_squad.search.paths import SearchLayout, UnsafePathError, ensure_inside


def make_engine(tmp_path: Path, population: int = 2, journal: bool = False, **kw: object) -> SearchEngine:
    lay = SearchLayout.for_experiment(tmp_path, "exp")
    return SearchEngine(EvolutionConfig(population_size=population, seed=11, **kw), lay,
                        Journal(lay.journal_path, fsync=False) if journal else None)


def test_population_smaller_than_request_defers_then_releases_children(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=2)
    ready = engine.request([10, 11, 12, 13, 14])
    assert [pid for pid, _ in ready] == [10, 11]
    assert all(p["parent_id"] is None and p["restore_dir"] is None for _, p in ready)
    assert engine.waiting == (12, 13, 14)
    assert engine.stats().deferred == 3


def test_children_wait_for_a_report_and_name_their_parent(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=2)
    ready = engine.request([0, 1, 2, 3])
    first = ready[0][1]
    released = engine.report(0, {"default": 0.5, "f1": 0.5})
    assert [pid for pid, _ in released] == [2, 3]
    parent = engine.individual(first["indiv_id"])
    for _, params in released:
        contract = TrialParams.from_dict(params, storage_root=engine.layout.root)
        assert contract.parent_id == first["indiv_id"]
        assert contract.restore_dir == first["save_dir"]
        assert contract.shared_ids == contract.graph.shared_ids(parent.graph)
    assert engine.waiting == ()


def test_no_idle_once_a_parent_exists(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=3)
    engine.request([0, 1, 2])
    engine.report(0, 0.1)
    ready = engine.request(list(range(3, 40)))
    assert len(ready) == 37  # every request served at once


def test_failed_cold_starts_are_regenerated_for_waiting_requests(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=2, journal=True)
    engine.request([0, 1, 2, 3])
    released = engine.end(0, False)  # killed
    assert [pid for pid, _ in released] == [2]
    assert released[0][1]["parent_id"] is None
    released = engine.end(1, True)  # succeeded but never reported
    assert [pid for pid, _ in released] == [3]
    stats = engine.stats()
    assert (stats.failed, stats.regenerated, stats.waiting) == (2, 2, 0)
    engine.close()
    events = read_events(engine.layout.journal_path)
    reasons = [e["reason"] for e in events if e["event"] == "failed"]
    assert reasons == ["failed", "no_final_result"]
    assert [e["origin"] for e in events if e["event"] == "generated"] == [
        "initial", "initial", "regenerated", "regenerated"]


def test_late_result_after_end_is_accepted(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=2)
    engine.request([0, 1, 2])
    engine.end(0, True)  # end processed before the result (NNI's two threads)
    assert engine.individual(0).status is Status.FAILED
    engine.report(0, 0.4)
    assert engine.individual(0).status is Status.REPORTED
    assert engine.stats().late_results == 1


def test_invalid_result_fails_the_individual(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=1)
    engine.request([0])
    engine.report(0, {"f1": 0.3})
    assert engine.individual(0).status is Status.FAILED
    assert engine.population() == ()


def test_unknown_and_duplicate_calls_are_ignored(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=1)
    engine.request([0])
    assert engine.report(99, 0.5) == [] and engine.end(98, False) == []
    engine.report(0, 0.5)
    engine.report(0, 0.9)
    engine.end(0, False)  # failure after a report keeps the result
    assert engine.individual(0).result == 0.5 and engine.individual(0).status is Status.REPORTED
    assert engine.stats().ignored == 3
    with pytest.raises(ValueError, match="already requested"):
        engine.request([0])


def test_without_a_callback_unserved_requests_are_dropped(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=1)
    assert len(engine.request([0, 1], defer=False)) == 1
    assert engine.waiting == ()


def test_minimize_prefers_low_results(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=3, optimize_mode="minimize", tournament_size=3)
    engine.request([0, 1, 2])
    for pid, value in ((0, 5.0), (1, 1.0), (2, 3.0)):
        engine.report(pid, value)
    assert {p["parent_id"] for _, p in engine.request([3, 4, 5])} == {1}


def test_paths_stay_inside_the_search_folder(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=1)
    (_, params), = engine.request([0])
    ensure_inside(params["save_dir"], engine.layout.root)
    with pytest.raises(UnsafePathError):
        SearchLayout.for_experiment(tmp_path, "../escape")


# --- random interleavings ----------------------------------------------------------------
ACTIONS = ("request", "report", "end_ok", "end_fail", "end_silent", "late_report", "bad_report")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), population=st.integers(1, 4))
def test_random_interleavings_keep_the_invariants(tmp_path: Path, data: st.DataObject, population: int) -> None:
    engine = make_engine(tmp_path / f"p{population}-{random.random()}", population=population)
    next_pid = 0
    reported_ids: set[int] = set()
    emitted: dict[int, dict] = {}  # pid -> params
    running: list[int] = []  # pids dispatched and not ended
    ended_silent: list[int] = []

    def accept(batch: list[tuple[int, dict]]) -> None:
        for pid, params in batch:
            assert pid not in emitted, "a parameter id was emitted twice"
            parent = params["parent_id"]
            assert parent is None or parent in reported_ids, "child emitted before its parent reported"
            emitted[pid] = params
            running.append(pid)

    def check() -> None:
        if engine.waiting:  # a waiting request is always backed by running cold starts
            assert len(engine.population()) == 0
            assert len(engine.running) >= population
        ids = [p["indiv_id"] for p in emitted.values()]
        assert len(ids) == len(set(ids))

    for _ in range(data.draw(st.integers(5, 40), label="steps")):
        action = data.draw(st.sampled_from(ACTIONS), label="action")
        if action == "request" or not running and action != "late_report":
            count = data.draw(st.integers(1, 4), label="count")
            pids = list(range(next_pid, next_pid + count))
            next_pid += count
            ready = engine.request(pids)
            assert [pid for pid, _ in ready] == pids[:len(ready)], "served ids must be a prefix"
            accept(ready)
        elif action == "late_report":
            if ended_silent:
                pid = ended_silent.pop(data.draw(st.integers(0, len(ended_silent) - 1)))
                reported_ids.add(emitted[pid]["indiv_id"])  # before: its children come back at once
                accept(engine.report(pid, 0.5))
        else:
            pid = running.pop(data.draw(st.integers(0, len(running) - 1), label="which"))
            if action == "report":
                reported_ids.add(emitted[pid]["indiv_id"])
                accept(engine.report(pid, {"default": data.draw(st.floats(0, 1), label="v")}))
                accept(engine.end(pid, True))
            elif action == "bad_report":
                accept(engine.report(pid, float("nan")))
                accept(engine.end(pid, True))
            elif action == "end_ok":
                accept(engine.end(pid, True))
                ended_silent.append(pid)
            else:
                accept(engine.end(pid, False))
        check()

    # liveness: finishing the running trials well always empties the queue
    for _ in range(200):
        if not engine.waiting:
            break
        pid = running.pop(0)
        reported_ids.add(emitted[pid]["indiv_id"])
        accept(engine.report(pid, 0.5))
        accept(engine.end(pid, True))
    assert engine.waiting == ()


def test_two_threads_hammering_report_and_end(tmp_path: Path) -> None:
    engine = make_engine(tmp_path, population=500, journal=True)
    n = 400
    ready = engine.request(list(range(n)))
    assert len(ready) == n
    rng = random.Random(3)
    outcomes = {pid: rng.choice(("ok", "fail", "silent")) for pid in range(n)}
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def reporter() -> None:
        barrier.wait()
        try:
            for pid in range(n):
                if outcomes[pid] == "ok":
                    engine.report(pid, {"default": pid / n})
        except BaseException as exc:
            errors.append(exc)

    def ender() -> None:
        barrier.wait()
        try:
            for pid in range(n):
                engine.end(pid, outcomes[pid] != "fail")
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=reporter), threading.Thread(target=ender)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    statuses = {i.indiv_id: i.status for i in engine.individuals()}
    for pid in range(n):
        expected = Status.REPORTED if outcomes[pid] == "ok" else Status.FAILED
        assert statuses[pid] == expected
    stats = engine.stats()
    assert stats.reported == sum(o == "ok" for o in outcomes.values())
    assert stats.running == 0
    engine.close()
    assert len(read_events(engine.layout.journal_path)) >= 2 * n

"""Search engine: parent gating, deferral, faults, thread safety (incl. random interleavings)."""

from __future__ import annotations

import queue
import random
import threading
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ga_squad.store.contract import ContractError, TrialParams
from ga_squad.store.engine import SearchEngine
from ga_squad.search.evolution import EvolutionConfig, Status
from ga_squad.store.journal import Journal, read_events
from ga_squad.store.paths import SearchLayout, UnsafePathError, ensure_inside


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


def test_a_loss_fitness_ranks_by_validation_loss_not_f1(tmp_path: Path) -> None:
    """With ``fitness: val_loss`` the parent is the lowest loss, even when its F1 is the lowest."""
    engine = make_engine(tmp_path, population=3, tournament_size=3, fitness="val_loss")
    engine.request([0, 1, 2])
    for pid, f1, loss in ((0, 14.0, 8.1), (1, 9.0, 7.6), (2, 12.0, 7.9)):
        engine.report(pid, {"default": f1, "val_loss": loss})
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
    """Many small searches on NNI's two threads, with deferrals, faults and late results.

    The "command" thread requests and reports, the "assessor" thread ends
    trials (as NNI 3.0's dispatcher). The population (2-4) is below the
    concurrency (6), so every search starts with deferred requests that a
    later report or end must serve (the ``st_callback`` drain path) on either
    thread. Outcomes: ok (result and end race), late (end first, then the
    result), fail, silent (success without result) and bad (NaN result).
    """
    concurrency, trials_per_search = 6, 40
    totals = {"deferred": 0, "late_dispatch_command": 0, "late_dispatch_assessor": 0, "late_results": 0}
    for search in range(12):
        population = 2 + search % 3
        engine = make_engine(tmp_path / f"s{search}", population=population, journal=True)
        rng = random.Random(search)
        outcomes = {pid: "fail" if pid == 0 else "late" if pid < population else
                    rng.choices(("ok", "late", "fail", "silent", "bad"), (5, 2, 2, 1, 1))[0]
                    for pid in range(trials_per_search)}
        command_q: queue.Queue = queue.Queue()
        assessor_q: queue.Queue = queue.Queue()
        book = threading.Lock()
        emitted: dict[int, dict] = {}  # pid -> params
        finished: set[int] = set()
        late_dispatches = {"command": 0, "assessor": 0}
        next_pid = iter(range(trials_per_search))
        errors: list[BaseException] = []

        def dispatch(batch: list, thread: str | None) -> None:
            for pid, params in batch:
                with book:
                    assert pid not in emitted, f"parameter id {pid} served twice"
                    emitted[pid] = params
                    if thread is not None:
                        late_dispatches[thread] += 1
                outcome = outcomes[pid]
                value = float("nan") if outcome == "bad" else {"default": rng.random()}
                if outcome in ("ok", "bad"):
                    command_q.put(("report", pid, value))
                if outcome != "late":
                    assessor_q.put(("end", pid, outcome != "fail"))
                else:  # the result is only handed over once the end was processed
                    assessor_q.put(("end_then_report", pid, True))

        def request_one() -> None:
            with book:
                pid = next(next_pid, None)
            if pid is not None:
                command_q.put(("request", [pid], None))

        def command_thread() -> None:
            try:
                while (item := command_q.get()) is not None:
                    kind, pid, value = item
                    if kind == "request":
                        ready = engine.request(pid)
                        assert [p for p, _ in ready] == pid[:len(ready)]
                        dispatch(ready, None)
                    else:
                        dispatch(engine.report(pid, value), "command")
                        if outcomes[pid] == "late":  # its end was processed first
                            with book:
                                finished.add(pid)
            except BaseException as exc:
                errors.append(exc)

        def assessor_thread() -> None:
            try:
                while (item := assessor_q.get()) is not None:
                    kind, pid, success = item
                    dispatch(engine.end(pid, success), "assessor")
                    if kind == "end_then_report":
                        command_q.put(("report", pid, {"default": 0.5}))
                    else:
                        with book:
                            finished.add(pid)
                    request_one()  # NNI's manager refills the slot of an ended trial
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=command_thread), threading.Thread(target=assessor_thread)]
        for thread in threads:
            thread.start()
        command_q.put(("request", [next(next_pid) for _ in range(concurrency)], None))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not errors:
            with book:
                if len(finished) == trials_per_search:
                    break
            time.sleep(0.005)
        command_q.put(None)
        assessor_q.put(None)
        for thread in threads:
            thread.join(timeout=10)
        assert not errors, errors
        with book:
            stranded = sorted(set(range(trials_per_search)) - set(emitted))
            assert not stranded, f"search {search}: requests never served: {stranded}"
            assert len(finished) == trials_per_search
        ids = [p["indiv_id"] for p in emitted.values()]
        assert len(ids) == len(set(ids)), "an individual was served twice"

        stats = engine.stats()
        counts = {o: sum(v == o for v in outcomes.values()) for o in ("ok", "late", "fail", "silent", "bad")}
        assert (stats.waiting, stats.running) == (0, 0)
        assert stats.generated == stats.dispatched == trials_per_search
        assert stats.reported == counts["ok"] + counts["late"]
        # an ok trial whose end won the race is a late result too
        assert counts["late"] <= stats.late_results <= counts["late"] + counts["ok"]
        assert stats.failed == counts["fail"] + counts["silent"] + counts["bad"] + stats.late_results
        statuses = {i.indiv_id: i.status for i in engine.individuals()}
        for pid, params in emitted.items():
            want = Status.REPORTED if outcomes[pid] in ("ok", "late") else Status.FAILED
            assert statuses[params["indiv_id"]] is want
        engine.close()
        # every child's parent had reported before the child was generated (journal order = state order)
        reported: set[int] = set()
        for event in read_events(engine.layout.journal_path):
            if event["event"] == "reported":
                reported.add(event["indiv_id"])
            elif event["event"] == "generated" and event["parent_id"] is not None:
                assert event["parent_id"] in reported, f"search {search}: child {event['indiv_id']} too early"
        totals["deferred"] += stats.deferred
        totals["late_results"] += stats.late_results
        totals["late_dispatch_command"] += late_dispatches["command"]
        totals["late_dispatch_assessor"] += late_dispatches["assessor"]
    # the deferral / st_callback drain path really ran, on both threads
    assert all(count > 0 for count in totals.values()), totals


def test_parameters_of_another_contract_version_are_refused_naming_it(tmp_path: Path) -> None:
    from ga_squad.search.graph import base_reader

    graph = base_reader()
    doc = {"contract": 2, "indiv_id": 3, "parent_id": 1, "graph": graph.to_dict(), "restore_dir": str(tmp_path / "a"),
           "save_dir": str(tmp_path / "b"), "shared_ids": sorted(graph.weight_ids()), "seed": 2}
    params = TrialParams.from_dict(doc)
    assert TrialParams.from_dict(params.to_dict()) == params
    for version in (1, 3):
        with pytest.raises(ContractError, match=f"^contract version {version} not supported \\(expected 2\\)$"):
            TrialParams.from_dict({**doc, "contract": version})


def test_siblings_one_trial_at_a_time_form_broods(tmp_path: Path) -> None:
    """Sequential (one trial at a time, as config.yml runs): ``siblings`` 2 gives each parent two children
    in a row, even after the first beats it; without it the better child is the next parent at once."""

    def parents(siblings: int) -> list[int | None]:
        engine = make_engine(tmp_path / str(siblings), population=2, tournament_size=2, aging=False,
                             siblings=siblings)
        seen: list[int | None] = []
        for pid in range(8):
            ((_, params),) = engine.request([pid])
            seen.append(params["parent_id"])
            engine.report(pid, {"default": float(pid)})  # every trial beats all before it
        return seen

    assert parents(2) == [None, None, 1, 1, 3, 3, 5, 5]
    assert parents(1) == [None, None, 1, 2, 3, 4, 5, 6]


def test_a_control_child_restores_its_parent_whole(tmp_path: Path) -> None:
    """With ``control`` the first child of each brood is the parent's graph: it restores the parent's
    checkpoint and shares every one of its layers; the brood's other children are edits."""
    engine = make_engine(tmp_path, population=3, tournament_size=3, aging=False, siblings=3, control=True)
    contracts = []
    for pid in range(9):
        ((_, params),) = engine.request([pid])
        contracts.append(TrialParams.from_dict(params, storage_root=engine.layout.root))
        engine.report(pid, {"default": float(pid)})
    children = contracts[3:]
    assert [c.parent_id for c in children] == [2, 2, 2, 5, 5, 5]
    for position, contract in enumerate(children):
        parent = engine.individual(contract.parent_id)
        if position % 3 == 0:  # the control
            assert contract.graph == parent.graph
            assert contract.shared_ids == parent.graph.shared_ids(parent.graph)
            assert contract.restore_dir == str(engine.layout.individual_dir(parent.indiv_id))
        else:
            assert contract.graph != parent.graph

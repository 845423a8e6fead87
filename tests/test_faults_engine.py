"""Faults on the tuner side: swapped parameters, lost results, two tuners, bad requests, retention."""

from __future__ import annotations

from pathlib import Path

import pytest

from ga_squad.store import checkpoint_store as store
from ga_squad.store.claims import claim
from ga_squad.store.engine import SearchEngine
from ga_squad.search.evolution import EvolutionConfig, Status
from ga_squad.store.journal import Journal, read_events
from ga_squad.store.lock import ExperimentLocked
from ga_squad.store.paths import SearchLayout
from ga_squad.store.protocol import EngineProtocol, open_engine
from tests.fixtures.fake_checkpoint import check, publish_fake, simulate_search


def layout(tmp_path: Path) -> SearchLayout:
    return SearchLayout.for_experiment(tmp_path, "exp")


def test_a_bad_request_is_refused_before_anything_is_served(tmp_path: Path) -> None:
    engine = SearchEngine(EvolutionConfig(population_size=4, seed=1), layout(tmp_path))
    engine.request([0, 1])
    for bad in ([2, 2], [3, 1]):
        with pytest.raises(ValueError, match="already requested"):
            engine.request(bad)
    assert engine.next_id == 2 and engine.running == frozenset({0, 1})  # nothing half-served
    assert [pid for pid, _ in engine.request([2, 3])] == [2, 3]


def test_ends_are_attributed_by_what_the_trial_ran(tmp_path: Path) -> None:
    """NNI 3.0 FIFO: trial J0 exits before asking, so J1 runs p0's individual, J2 p1's, J3 p2's."""
    lay = layout(tmp_path)
    tuner = EngineProtocol.for_search(EvolutionConfig(population_size=4, seed=2), lay, fsync=False)
    params = tuner.generate_multiple_parameters([0, 1, 2, 3], st_callback=lambda *a: None)
    ids = [p["indiv_id"] for p in params]

    def result(i: int) -> dict:
        return {"default": 0.1 * (i + 1), "indiv_id": ids[i]}

    tuner.trial_end(0, False, trial_job_id="J0")  # ran nothing; only its form names individual 0
    tuner.receive_trial_result(0, params[0], result(0), trial_job_id="J1")
    tuner.trial_end(1, True, trial_job_id="J1")
    tuner.receive_trial_result(1, params[1], result(1), trial_job_id="J2")
    tuner.trial_end(2, False, trial_job_id="J2")  # exits 1 after reporting
    tuner.receive_trial_result(2, params[2], result(2), trial_job_id="J3")
    tuner.trial_end(3, True, trial_job_id="J3")
    stats = tuner.stats()
    tuner.close()
    events = read_events(lay.journal_path)
    ended = [(e["trial_job_id"], e["indiv_id"], e["success"], e["attributed_by"]) for e in events
             if e["event"] == "ended"]
    assert ended == [("J0", ids[0], False, "form"), ("J1", ids[0], True, "result"),
                     ("J2", ids[1], False, "result"), ("J3", ids[2], True, "result")]
    # only the one ambiguous end failed anyone, and the real result undid it
    failed = [e["indiv_id"] for e in events if e["event"] == "failed"]
    assert failed == [ids[0]]
    late = [e for e in events if e["event"] == "reported" and e["late"]]
    assert [(e["indiv_id"], e["corrects_end_of"]) for e in late] == [(ids[0], "J0")]
    assert stats.corrected_ends == 1 and stats.reported == 3
    assert stats.running == 1  # individual 3's parameters still wait in NNI's queue: not failed


def test_claims_attribute_ends_of_trials_that_never_report(tmp_path: Path) -> None:
    """With claims (what trial/trial.py writes on taking its parameters) no end is misattributed."""
    lay = layout(tmp_path)
    tuner = EngineProtocol.for_search(EvolutionConfig(population_size=4, seed=2), lay, fsync=False)
    params = tuner.generate_multiple_parameters([0, 1, 2, 3], st_callback=lambda *a: None)
    ids = [p["indiv_id"] for p in params]
    claim(params[0]["save_dir"], "J1")  # J0 exits before asking: J1 takes p0, J2 takes p1
    claim(params[1]["save_dir"], "J2")
    tuner.trial_end(0, False, trial_job_id="J0")
    tuner.trial_end(1, False, trial_job_id="J1")  # fails before reporting
    tuner.receive_trial_result(1, params[1], {"default": 0.5, "indiv_id": ids[1]}, trial_job_id="J2")
    tuner.trial_end(2, True, trial_job_id="J2")
    tuner.close()
    events = read_events(lay.journal_path)
    ended = [(e["trial_job_id"], e["indiv_id"], e["attributed_by"]) for e in events if e["event"] == "ended"]
    assert ended == [("J0", None, "none"), ("J1", ids[0], "claim"), ("J2", ids[1], "result")]
    assert [(e["indiv_id"], e["reason"]) for e in events if e["event"] == "failed"] == [(ids[0], "failed")]
    assert tuner.engine.individual(ids[2]).status is Status.DISPATCHED  # its parameters still wait in NNI


def test_ends_without_job_ids_fall_back_on_the_form(tmp_path: Path) -> None:
    engine = SearchEngine(EvolutionConfig(population_size=2, seed=1), layout(tmp_path))
    engine.request([0, 1])
    engine.end(1, False)
    assert engine.individual(1).status is Status.FAILED


def _publish_result(lay: SearchLayout, indiv_id: int, value: float) -> None:
    publish_fake(lay.individual_dir(indiv_id), indiv_id, {"default": value, "f1": value, "indiv_id": indiv_id}, 100)


def test_resume_adopts_results_whose_checkpoint_is_published(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    config = EvolutionConfig(population_size=3, seed=3)
    first = open_engine(config, lay, fsync=False)
    first.request([0, 1, 2])
    first.report(0, 0.2)
    _publish_result(lay, 1, 0.9)  # published, then the dispatcher died with the result in flight
    first.close()
    second = open_engine(config, lay, fsync=False)
    assert second.individual(1).status is Status.REPORTED and second.individual(1).result == 0.9
    assert second.individual(2).status is Status.FAILED  # nothing published: really lost
    assert [m.indiv_id for m in second.population()] == [0, 1]
    second.close()
    events = read_events(lay.journal_path)
    recovered = [e for e in events if e["event"] == "reported" and e.get("recovered") == "manifest"]
    assert [e["indiv_id"] for e in recovered] == [1] and recovered[0]["result"]["f1"] == 0.9
    assert [e["lost"] for e in events if e["event"] == "resumed"] == [[2]]


def test_an_end_without_result_recovers_a_published_checkpoint(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    engine = SearchEngine(EvolutionConfig(population_size=2, seed=1), lay, Journal(lay.journal_path, fsync=False))
    engine.request([0, 1])
    _publish_result(lay, 0, 0.5)
    engine.end(0, False)  # killed after publishing, before its result left
    assert engine.individual(0).status is Status.REPORTED and engine.stats().recovered == 1


def test_a_second_tuner_on_the_same_experiment_is_refused(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    config = EvolutionConfig(population_size=2, seed=1)
    first = EngineProtocol.for_search(config, lay, fsync=False)
    with pytest.raises(ExperimentLocked, match="already used by a tuner"):
        EngineProtocol.for_search(config, lay, fsync=False)
    first.close()
    EngineProtocol.for_search(config, lay, fsync=False).close()


def test_imported_results_join_the_population_by_birth_order(tmp_path: Path) -> None:
    lay = layout(tmp_path)
    engine = SearchEngine(EvolutionConfig(population_size=2, seed=4), lay, Journal(lay.journal_path, fsync=False))
    ready = engine.request([0, 1])
    engine.end(0, False)  # lost for now
    engine.report(1, 0.3)
    more = engine.request([2, 3])
    engine.report(2, 0.4)
    engine.report(3, 0.5)  # population: the two youngest, 2 and 3 (ids by birth)
    assert [m.indiv_id for m in engine.population()] == [more[0][1]["indiv_id"], more[1][1]["indiv_id"]]
    engine.import_result(ready[0][1], 0.99)  # the oldest individual's result, imported late
    assert engine.individual(0).status is Status.REPORTED
    assert 0 not in [m.indiv_id for m in engine.population()]  # it is the oldest: in and out at once
    events = read_events(lay.journal_path)
    assert events[-1]["event"] == "retired" and events[-1]["indiv_id"] == 0


def test_retention_bounds_disk_and_never_deletes_a_parent_in_use(tmp_path: Path) -> None:
    kept = simulate_search(tmp_path, keep=2, trials=120, size=10_000)
    full = simulate_search(tmp_path, keep="all", trials=120, size=10_000)
    assert kept["violations"] == [] and full["violations"] == []
    assert full["pruned"] == 0 and full["disk"] >= full["reported"] * 10_000
    # population 8 + parents of 4 running children + top 2, plus manifests
    assert kept["disk"] <= (8 + 4 + 2) * 10_000 + kept["reported"] * 1_000
    assert kept["pruned"] >= kept["reported"] - (8 + 4 + 2)
    lay = kept["layout"]
    events = read_events(lay.journal_path)
    pruned = {e["indiv_id"] for e in events if e["event"] == "pruned"}
    assert len(pruned) == kept["pruned"]
    reported = {e["indiv_id"] for e in events if e["event"] == "reported"}
    for indiv_id in reported:  # metrics stay readable for every individual
        assert store.published_metrics(lay.individual_dir(indiv_id), indiv_id) is not None
        assert (check(lay.individual_dir(indiv_id)) is None) == (indiv_id not in pruned)

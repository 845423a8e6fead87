"""A whole tiny search in-process: journal, checkpoints, weight sharing on and off."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow  # eight real (tiny) trials: a minute or more on 2 cores

from ga_squad.reader.checkpoint import read_manifest  # noqa: E402
from ga_squad.store.journal import read_events, replay  # noqa: E402
from ga_squad.sim.local_search import LocalSearchResult, run_local_search, tiny_config  # noqa: E402
from ga_squad.sim.replay import Proposal  # noqa: E402
from tiny_search import tiny_search  # noqa: E402


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalSearchResult, LocalSearchResult]:
    """The weight-sharing search and its replay without sharing.

    The sharing one is the session's tiny search (the report, export and
    predict tests read it too): the default :func:`tiny_config` search, so it
    runs once per session, not once more here.
    """
    from ga_squad.reader.data_cache import load_dataset

    sharing = tiny_search(tmp_path_factory).result
    assert sharing.config == tiny_config(sharing.config.save_dir_root, sharing.config.experiment_id)
    cold = run_local_search(tiny_config(str(tmp_path_factory.mktemp("local_search")), "cold", weight_sharing=False),
                            data=load_dataset(sharing.config.data), replay=sharing.proposals)
    return sharing, cold


def test_every_trial_reported_in_the_journal(searches: tuple[LocalSearchResult, LocalSearchResult]) -> None:
    for result in searches:
        events = read_events(result.journal_path)
        reported = {e["indiv_id"] for e in events if e["event"] == "reported"}
        assert reported == {t.indiv_id for t in result.trials}
        assert len(result.trials) == 4
        assert not [e for e in events if e["event"] == "failed"]  # NNI's order: result, then end
        records = replay(events)
        assert all(r.status.value == "reported" for r in records.values())
        for trial in result.trials:
            assert trial.succeeded and trial.f1 is not None and trial.epochs == 1


def test_children_warm_start_from_parent_checkpoint(
        searches: tuple[LocalSearchResult, LocalSearchResult]) -> None:
    sharing, _ = searches
    children = [t for t in sharing.trials if t.parent_id is not None]
    assert len(children) == 2  # population 2: two cold starts, then two children
    for child in children:
        assert child.warm_start and child.inherited_params > 0
        manifest = read_manifest(Path(sharing.root) / "individuals" / f"{child.indiv_id:06d}")
        assert manifest["parent_id"] == child.parent_id
        assert manifest["metrics"]["warm_start"] is True
        assert manifest["metrics"]["inherited_params"] == child.inherited_params > 0
    for cold_start in sharing.trials[:2]:
        assert cold_start.parent_id is None and not cold_start.warm_start


def test_no_sharing_replay_proposes_same_graphs_cold(
        searches: tuple[LocalSearchResult, LocalSearchResult]) -> None:
    sharing, cold = searches
    assert [p.to_dict() for p in cold.proposals] == [p.to_dict() for p in sharing.proposals]
    assert [t.seed for t in cold.trials] == [t.seed for t in sharing.trials]
    for trial in cold.trials:
        assert not trial.warm_start and trial.inherited_params == 0
        manifest = read_manifest(Path(cold.root) / "individuals" / f"{trial.indiv_id:06d}")
        assert manifest["metrics"]["warm_start"] is False
    # Cold starts are the same trial in both searches (same graph, seed, data): same score.
    assert [t.f1 for t in cold.trials[:2]] == [t.f1 for t in sharing.trials[:2]]


def test_proposal_round_trip_and_existing_journal_refused(
        searches: tuple[LocalSearchResult, LocalSearchResult]) -> None:
    sharing, _ = searches
    for p in sharing.proposals:
        assert Proposal.from_dict(p.to_dict()) == p
    with pytest.raises(FileExistsError):
        run_local_search(sharing.config)


def test_resume_continues_a_search_to_its_trial_total(tmp_path: Path) -> None:
    """A resumed search keeps its first session's trials and adds children of them, never repeating an id."""
    import dataclasses

    from ga_squad.reader.data_cache import load_dataset

    first_cfg = tiny_config(str(tmp_path), "resumed", max_trials=3)
    data = load_dataset(first_cfg.data)
    first = run_local_search(first_cfg, data=data)
    with pytest.raises(ValueError, match="replay"):
        run_local_search(dataclasses.replace(first_cfg, resume=True), data=data, replay=first.proposals)
    with pytest.raises(FileNotFoundError, match="no search journal"):
        run_local_search(tiny_config(str(tmp_path), "never-ran", resume=True), data=data)

    resumed = run_local_search(dataclasses.replace(first_cfg, max_trials=5, resume=True), data=data)
    assert [t.indiv_id for t in resumed.trials] == [0, 1, 2, 3, 4]
    assert [t.index for t in resumed.trials] == [0, 1, 2, 3, 4]
    assert [(t.indiv_id, t.f1, t.val_loss, t.seed) for t in resumed.trials[:3]] == \
        [(t.indiv_id, t.f1, t.val_loss, t.seed) for t in first.trials]
    events = read_events(resumed.journal_path)
    sessions = {e["indiv_id"]: e["session"] for e in events if e["event"] == "reported"}
    assert sessions == {0: 0, 1: 0, 2: 0, 3: 1, 4: 1}
    for child in resumed.trials[3:]:
        assert child.parent_id in {0, 1, 2, 3} and child.parent_id < child.indiv_id
        assert child.warm_start and child.inherited_params > 0

    again = run_local_search(dataclasses.replace(first_cfg, max_trials=4, resume=True), data=data)
    assert [t.indiv_id for t in again.trials] == [0, 1, 2, 3, 4]  # 5 >= 4 trials ran: nothing to do
    dispatched = [e for e in read_events(again.journal_path) if e["event"] == "dispatched"]
    assert len(dispatched) == 5

"""A whole tiny search in-process: journal, checkpoints, weight sharing on and off."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("tensorflow")
pytestmark = pytest.mark.slow  # eight real (tiny) trials: a minute or more on 2 cores

from ga_squad.reader.checkpoint import read_manifest  # noqa: E402
from ga_squad.search.journal import read_events, replay  # noqa: E402
from ga_squad.sim.local_search import LocalSearchResult, run_local_search, tiny_config  # noqa: E402
from ga_squad.sim.replay import Proposal  # noqa: E402


@pytest.fixture(scope="module")
def searches(tmp_path_factory: pytest.TempPathFactory) -> tuple[LocalSearchResult, LocalSearchResult]:
    from ga_squad.reader.data_cache import load_dataset

    root = tmp_path_factory.mktemp("local_search")
    shared_cfg = tiny_config(str(root), "sharing")
    data = load_dataset(shared_cfg.data)
    sharing = run_local_search(shared_cfg, data=data)
    cold = run_local_search(tiny_config(str(root), "cold", weight_sharing=False),
                            data=data, replay=sharing.proposals)
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

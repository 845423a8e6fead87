"""One definition of "best": the journal records the fitness and its direction, and every reader ranks with it.

No TensorFlow: a loss-ranked search is driven through the real engine, its
checkpoints published as fake ones through the real publish path
(``tests/fixtures/fake_checkpoint.py``). The individual each test expects is
fixed by construction of the results below, never computed by the rule under
test.
"""

from __future__ import annotations

import json
import logging
import re
import shutil
from pathlib import Path

import pytest

from ga_squad.store import checkpoint_store
from ga_squad.store.best import FitnessUnknown, NoBestIndividual, best_individual, rank, search_fitness
from ga_squad.store.contract import ContractError, MissingScore, TrialParams, result_score
from ga_squad.store.engine import SearchEngine
from ga_squad.search.evolution import EvolutionConfig, OptimizeMode
from ga_squad.search.fitness import Fitness, FitnessError, known_direction
from ga_squad.search.graph import base_reader
from ga_squad.store.journal import Journal, read_events, replay
from ga_squad.store.paths import SearchLayout
from tests.fixtures.fake_checkpoint import publish_fake

#: indiv_id -> (validation loss, validation F1). By construction: the lowest loss is individual 2, which is
#: neither the best F1 (1), nor the first individual (0), nor the largest value (3, the highest loss).
RESULTS = {0: (5.0, 20.0), 1: (6.0, 40.0), 2: (3.0, 10.0), 3: (7.0, 15.0)}
BEST_BY_LOSS, BEST_BY_F1, HIGHEST_LOSS = 2, 1, 3


def _result(indiv_id: int) -> dict:
    loss, f1 = RESULTS[indiv_id]
    return {"default": f1, "val_f1": f1, "val_em": f1 / 2, "val_loss": loss, "dev_f1": 100 - f1,
            "dev_em": (100 - f1) / 2, "f1": 100 - f1, "em": (100 - f1) / 2, "epochs": 1, "indiv_id": indiv_id,
            "parent_id": None}


def loss_ranked_search(root: Path, experiment: str = "loss", unpublished: tuple[int, ...] = ()) -> SearchLayout:
    """Four cold starts of a search configured as config.yml ships (``fitness: val_loss``, ``optimize_mode: maximize``)."""
    layout = SearchLayout.for_experiment(root, experiment)
    config = EvolutionConfig(population_size=4, tournament_size=4, seed=1, fitness="val_loss",
                             optimize_mode="maximize")
    engine = SearchEngine(config, layout, Journal(layout.journal_path, fsync=False))
    try:
        for pid, params in engine.request([0, 1, 2, 3]):
            indiv_id = params["indiv_id"]
            if indiv_id not in unpublished:
                publish_fake(params["save_dir"], indiv_id, _result(indiv_id), size=64)
            engine.report(pid, _result(indiv_id))
    finally:
        engine.close()
    assert sorted(replay(read_events(layout.journal_path))) == [0, 1, 2, 3]
    return layout


# --- the fitness: a key and its direction ------------------------------------------
def test_a_fitness_takes_its_direction_from_its_key_and_refuses_a_contradiction() -> None:
    assert known_direction("val_loss") is OptimizeMode.MINIMIZE and known_direction("val_f1") is OptimizeMode.MAXIMIZE
    assert known_direction("default") is None
    assert Fitness.resolve("val_loss", "maximize") == Fitness("val_loss", OptimizeMode.MINIMIZE)
    assert Fitness.resolve("default", "minimize").mode is OptimizeMode.MINIMIZE  # NNI's meaning of optimize_mode
    with pytest.raises(FitnessError, match="'val_loss' cannot be maximized"):
        Fitness("val_loss", "maximize")
    with pytest.raises(FitnessError, match="dev set is scored once"):
        Fitness("dev_f1").epoch_metric  # noqa: B018
    assert Fitness.from_dict(Fitness("val_loss", "minimize").to_dict()) == Fitness("val_loss", "minimize")
    assert EvolutionConfig(fitness="val_loss").rank_mode is OptimizeMode.MINIMIZE


def test_class_args_refuse_minimize_and_keys_a_trial_cannot_select_by() -> None:
    from ga_squad.store.settings import ClassArgsError, validate_class_args

    validate_class_args({"save_dir_root": "runs", "optimize_mode": "maximize", "fitness": "val_loss"})
    with pytest.raises(ClassArgsError, match="optimize_mode: minimize .*set fitness: val_loss"):
        validate_class_args({"save_dir_root": "runs", "optimize_mode": "minimize"})
    with pytest.raises(ClassArgsError, match="optimize_mode: minimize .*keep optimize_mode: maximize"):
        validate_class_args({"save_dir_root": "runs", "optimize_mode": "minimize", "fitness": "val_loss"})
    with pytest.raises(ClassArgsError, match="fitness: must be one of default, val_f1, val_em, val_loss"):
        validate_class_args({"save_dir_root": "runs", "fitness": "dev_f1"})


def test_the_contract_carries_the_fitness_to_the_trial(tmp_path: Path) -> None:
    params = TrialParams(3, None, base_reader(), None, str(tmp_path / "x"), None, fitness=Fitness("val_loss", "minimize"))
    data = params.to_dict()
    assert data["fitness"] == {"key": "val_loss", "mode": "minimize"}
    assert TrialParams.from_dict(data).fitness == Fitness("val_loss", "minimize")
    assert TrialParams.from_dict({k: v for k, v in data.items() if k != "fitness"}).fitness == Fitness()
    with pytest.raises(ContractError, match="fitness"):
        TrialParams.from_dict({**data, "fitness": {"key": "val_loss", "mode": "maximize"}})
    layout = loss_ranked_search(tmp_path / "runs")
    generated = [e for e in read_events(layout.journal_path) if e["event"] == "generated"]
    assert generated  # and every trial was told what its search ranks by:
    engine = SearchEngine(EvolutionConfig(population_size=1, fitness="val_loss"),
                          SearchLayout.for_experiment(tmp_path / "other", "e"))
    ((_, sent),) = engine.request([0])
    assert sent["fitness"] == {"key": "val_loss", "mode": "minimize"}


def test_a_validation_score_is_never_read_from_the_bare_dev_keys() -> None:
    assert result_score({"dev_f1": 12.5, "f1": 12.5}, "f1", split="dev") == 12.5
    assert result_score({"f1": 12.5}, "f1", split="dev") is None  # only dev_f1 is read as the dev score
    with pytest.raises(MissingScore, match="'val_f1'"):
        result_score({"default": 12.5, "f1": 12.5}, "f1", split="val")
    assert result_score({"val_f1": 3.0, "f1": 99.0}, "f1") == 3.0


# --- the journal records it --------------------------------------------------------
def test_the_first_event_records_the_fitness_its_direction_and_the_settings(tmp_path: Path) -> None:
    layout = loss_ranked_search(tmp_path)
    first = read_events(layout.journal_path)[0]
    assert first["event"] == "search" and first["session"] == 0
    assert first["fitness"] == {"key": "val_loss", "mode": "minimize"}
    assert first["optimize_mode"] == "maximize"
    assert {k: first["config"][k] for k in ("population_size", "tournament_size", "seed", "siblings", "control",
                                            "aging", "fitness")} == {
        "population_size": 4, "tournament_size": 4, "seed": 1, "siblings": 1, "control": False, "aging": True,
        "fitness": "val_loss"}
    assert first["retention"] == {"keep": "all"}


def test_a_search_cannot_be_resumed_ranked_another_way(tmp_path: Path) -> None:
    layout = loss_ranked_search(tmp_path)
    with pytest.raises(FitnessError, match="ranks by val_loss \\(minimize\\).*resume it with fitness: val_loss"):
        SearchEngine(EvolutionConfig(population_size=4), layout, Journal(layout.journal_path, fsync=False))
    again = SearchEngine(EvolutionConfig(population_size=4, fitness="val_loss"), layout,
                         Journal(layout.journal_path, fsync=False))
    again.close()
    assert [e["event"] for e in read_events(layout.journal_path)].count("search") == 1


# --- the one best ------------------------------------------------------------------
def test_the_best_of_a_loss_ranked_search_is_its_lowest_loss(tmp_path: Path) -> None:
    layout = loss_ranked_search(tmp_path)
    best = best_individual(layout.root)
    assert best.indiv_id == BEST_BY_LOSS
    assert (best.value, best.fitness) == (RESULTS[BEST_BY_LOSS][0], Fitness("val_loss", "minimize"))
    assert best.save_dir == layout.individual_dir(BEST_BY_LOSS)
    assert best.checkpoint is not None and (best.checkpoint / "manifest.json").is_file()
    assert best_individual(layout.journal_path).indiv_id == BEST_BY_LOSS  # the journal file names the same
    order = [r.indiv_id for r in rank(replay(read_events(layout.journal_path)).values(), best.fitness)]
    assert order == [2, 0, 1, 3]


def test_every_reader_of_the_search_names_the_same_individual(tmp_path: Path) -> None:
    """The leaderboard, report's best, the notebook's helper, run's leaderboard and the benchmarks."""
    from benchmarks.reader_quality import best_of_journal
    from ga_squad.analysis.leaderboard import leaderboard
    from ga_squad.analysis.markdown import leaderboard_markdown, overview_markdown
    from ga_squad.analysis.search_dir import load_search
    from ga_squad.cli import run

    layout = loss_ranked_search(tmp_path)
    search = load_search(tmp_path)  # a storage root, as the notebook and report take it
    assert search.fitness == Fitness("val_loss", "minimize")
    assert search.best().indiv_id == BEST_BY_LOSS  # the notebook's helper and report's best
    rows = leaderboard(search)
    assert [r.indiv_id for r in rows] == [2, 0, 1, 3]
    assert (rows[0].fitness_key, rows[0].fitness_mode, rows[0].fitness_value) == ("val_loss", "minimize", 3.0)
    assert run.ranked(search)[0].indiv_id == run.best_row(search, rows).indiv_id == BEST_BY_LOSS
    table = leaderboard_markdown(rows)
    assert "| val loss |" in table.splitlines()[0] and "ranked by val loss, lower is better" in table
    assert "individual 2, validation F1 10.00" in overview_markdown(search)
    _, extra = best_of_journal(str(layout.journal_path))
    assert extra == {"indiv_id": BEST_BY_LOSS, "search_f1": RESULTS[BEST_BY_LOSS][1]}


def test_an_individual_without_a_published_checkpoint_is_skipped_with_a_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    layout = loss_ranked_search(tmp_path, unpublished=(BEST_BY_LOSS,))
    with caplog.at_level(logging.WARNING, logger="ga_squad.store.best"):
        assert best_individual(layout.root).indiv_id == 0  # the next lowest loss
    assert "individual 2 (val_loss 3.0000) has no published checkpoint" in caplog.text
    checkpoint_store.prune(layout.individual_dir(0), "test")  # retention deleted its weights
    assert best_individual(layout.root).indiv_id == 1
    assert best_individual(layout.root, published_only=False).indiv_id == BEST_BY_LOSS


def test_no_published_checkpoint_at_all_is_named(tmp_path: Path) -> None:
    layout = loss_ranked_search(tmp_path, unpublished=(0, 1, 2, 3))
    with pytest.raises(NoBestIndividual, match="no reported individual .* has a published checkpoint"):
        best_individual(layout.root)


def _rewrite(journal: Path, change) -> None:  # noqa: ANN001 - event -> event or None (dropped)
    events = [change(e) for e in read_events(journal)]
    journal.write_text("".join(json.dumps(e) + "\n" for e in events if e is not None), encoding="utf-8")


def test_a_journal_without_its_search_event_is_refused_naming_it(tmp_path: Path) -> None:
    """A journal of another version (no ``search`` event first) is never ranked by a guess; an empty one has no best."""
    from ga_squad.analysis.search_dir import load_search
    from ga_squad.cli.report import cli as report_cli

    assert search_fitness([]) == Fitness()
    layout = loss_ranked_search(tmp_path)
    _rewrite(layout.journal_path, lambda e: None if e["event"] == "search" else e)
    with pytest.raises(FitnessUnknown, match=f"^{re.escape(str(layout.journal_path))} does not start with a "
                                             f"'search' event"):
        best_individual(layout.root)
    with pytest.raises(FitnessUnknown):
        load_search(layout.root)
    assert report_cli([str(layout.root), "--no-reevaluate"]) == 1
    with pytest.raises(FitnessError, match="does not start with a 'search' event.*cannot be resumed"):
        SearchEngine(EvolutionConfig(population_size=4, fitness="val_loss"), layout,
                     Journal(layout.journal_path, fsync=False))


# --- a copied or moved search reads its own checkpoints ---------------------------------
def test_a_copied_search_reads_its_own_checkpoints_not_the_original(tmp_path: Path) -> None:
    from ga_squad.analysis.search_dir import load_search

    layout = loss_ranked_search(tmp_path / "first")
    copy = tmp_path / "second" / "loss"
    shutil.copytree(layout.root, copy, symlinks=True)
    checkpoint_store.prune(copy / "individuals" / "000002", "only in the copy")
    # The journal's absolute paths still name the original, which still has individual 2's weights.
    assert best_individual(copy).indiv_id == 0 and best_individual(layout.root).indiv_id == BEST_BY_LOSS
    search = load_search(copy)
    assert search.save_dir(2) == copy / "individuals" / "000002"
    assert search.best().indiv_id == 0
    shutil.rmtree(layout.root)  # the original is gone: the copy answers alone
    assert best_individual(copy).save_dir == copy / "individuals" / "000000"


# --- the notebook's parameter and export's --out ------------------------------------------
def test_the_notebook_outside_the_repository_says_how_to_point_it_at_a_search(tmp_path: Path) -> None:
    from ga_squad.analysis.notebook import NotebookSetupError, find_repo, notebook_search_dir

    assert find_repo(tmp_path) is None and find_repo(Path(__file__).parent) == Path(__file__).resolve().parents[1]
    with pytest.raises(NotebookSetupError, match="outside the ga-squad repository.*set GA_SQUAD_SEARCH_DIR"):
        notebook_search_dir({}, None)
    with pytest.raises(NotebookSetupError, match="is not a folder"):
        notebook_search_dir({"GA_SQUAD_SEARCH_DIR": str(tmp_path / "none")}, None)
    with pytest.raises(NotebookSetupError, match="does not exist \\(run `make run` first\\)"):
        notebook_search_dir({}, tmp_path)
    assert notebook_search_dir({"GA_SQUAD_SEARCH_DIR": str(tmp_path)}, None) == tmp_path


def test_export_out_on_an_existing_file_says_what_exists_and_what_to_do(
        tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from ga_squad.cli.export import cli as export_cli

    taken = tmp_path / "best-reader"
    taken.write_text("a file", encoding="utf-8")
    for out in (taken, taken / "inner"):
        assert export_cli([str(tmp_path), "--out", str(out)]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"error: --out {out}: {taken} exists and is a file"), err
        assert "choose another --out" in err[0] and f"remove {taken}" in err[0]

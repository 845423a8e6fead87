"""No temporary file of a killed writer outlives the search; no live writer loses its file.

Real writers (``tests/fixtures/killed_writer.py``: :func:`ga_squad.files.atomic_write`
and :func:`ga_squad.store.checkpoint_store.publishing`) are SIGKILLed mid-write
in the folders a search writes to (an individual's folder, ``shared/``, the
storage root's ``embeddings/``); a live writer stands for a slow one. The
leftovers must go at search start, at the end of the killed trial, and when
retention prunes the folder, while the live writer's file stays.
"""

from __future__ import annotations

from pathlib import Path

from ga_squad.files import remove_stale_temps
from ga_squad.store import checkpoint_store as store
from ga_squad.store.engine import SearchEngine
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.journal import Journal
from ga_squad.store.paths import SearchLayout
from ga_squad.store.protocol import open_engine
from tests.fixtures import killed_writer
from tests.fixtures.fake_checkpoint import publish_fake

CONFIG = EvolutionConfig(population_size=2, seed=1)


def hidden(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.name.startswith(".")} if folder.is_dir() else set()


def killed(mode: str, path: Path) -> None:
    killed_writer.kill(killed_writer.start(mode, path))


def test_a_search_start_removes_what_killed_writers_left_and_keeps_live_writes(tmp_path: Path) -> None:
    lay = SearchLayout.for_experiment(tmp_path, "exp")
    individual = lay.individual_dir(0)
    publish_fake(individual, 0, {"default": 0.1}, 100)
    killed("checkpoint", individual)  # a trial killed while publishing again
    killed("file", lay.shared_dir / "vocab-abc.json")  # ... while storing its vocabularies
    killed("file", tmp_path / "embeddings" / "table.npy")  # ... while storing its embedding table
    slow = killed_writer.start("file", lay.shared_dir / "vocab-def.json")  # still writing
    try:
        before = hidden(individual) | hidden(lay.shared_dir) | hidden(tmp_path / "embeddings")
        assert len([n for n in before if ".tmp" in n]) == 4
        engine = open_engine(CONFIG, lay, fsync=False)
        assert len([n for n in hidden(lay.shared_dir) if ".tmp" in n]) == 2  # not yet: NNI's 10 s run
        engine.request([0])  # the search starts (NNI's first request, after the tuner connected)
        assert [n for n in hidden(individual) if n.startswith(".checkpoint.tmp-")] == []
        assert hidden(tmp_path / "embeddings") == set()
        left = hidden(lay.shared_dir)
        assert [n for n in left if n.startswith(".vocab-def.json.tmp-")] != []  # the live writer's
        assert [n for n in left if n.startswith(".vocab-abc.json")] == []
        assert store.published_metrics(individual, 0) == {"default": 0.1}  # the published checkpoint stays
        engine.close()
    finally:
        killed_writer.kill(slow)
    assert remove_stale_temps(lay.shared_dir) != []  # its writer gone now, it goes too


def test_the_end_of_a_killed_trial_sweeps_its_folder_and_the_shared_ones(tmp_path: Path) -> None:
    lay = SearchLayout.for_experiment(tmp_path, "exp")
    engine = open_engine(CONFIG, lay, fsync=False)
    (pid, params), _ = engine.request([0, 1])
    killed("checkpoint", Path(params["save_dir"]))
    killed("file", lay.shared_dir / "vocab-abc.json")
    assert hidden(Path(params["save_dir"])) and hidden(lay.shared_dir)
    engine.end(pid, False)  # the killed trial's end, long before the next search start
    assert [n for n in hidden(Path(params["save_dir"])) if "tmp" in n] == []
    assert hidden(lay.shared_dir) == set()
    engine.close()


def test_retention_prunes_leftovers_with_the_weights(tmp_path: Path) -> None:
    save = tmp_path / "000003"
    publish_fake(save, 3, {"default": 0.5}, 5_000)
    killed("checkpoint", save)
    assert [n for n in hidden(save) if n.startswith(".checkpoint.tmp-")] != []
    store.prune(save, reason="test")
    assert [n for n in hidden(save) if n.startswith(".checkpoint.tmp-")] == []
    assert store.published_metrics(save, 3) == {"default": 0.5}


def test_an_engine_without_the_lock_sweeps_nothing(tmp_path: Path) -> None:
    """Only the lock holder sweeps: a simulation reading someone's folder must not clean it."""
    lay = SearchLayout.for_experiment(tmp_path, "exp")
    killed("file", lay.shared_dir / "vocab-abc.json")
    engine = SearchEngine(CONFIG, lay, Journal(lay.journal_path, fsync=False))
    engine.close()
    assert hidden(lay.shared_dir) != set()

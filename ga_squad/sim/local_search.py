"""Run a whole search in this process with real TensorFlow trials (no ``nnictl``).

The search goes through exactly the machinery of an NNI experiment: the
tuner protocol :class:`~ga_squad.store.protocol.EngineProtocol` that the NNI
adapter ``tuner/ga_tuner.py`` also runs (its
:class:`~ga_squad.store.engine.SearchEngine` and lineage journal) is driven the
way NNI's dispatcher drives it (one trial at a time by a small loop in NNI's
call order, or :func:`ga_squad.sim.threaded.run_threaded` for ``concurrency > 1``),
and each trial is :func:`ga_squad.reader.training.run_trial` on one dataset loaded once. The
folder it leaves (``<save_dir_root>/<experiment_id>/lineage.jsonl`` and
``individuals/NNNNNN/``) is therefore laid out like a real experiment's, and
``python -m ga_squad report`` reads it the same way.

Example (a tiny search in well under a minute on 2 cores)::

    from ga_squad.sim.local_search import LocalSearchConfig, run_local_search, tiny_config
    result = run_local_search(tiny_config("/tmp/ga", "tiny-1"))
    print(result.best.f1, result.journal_path)

Weight sharing off (:attr:`LocalSearchConfig.weight_sharing` = False): the
tuner still proposes children with ``restore_dir`` and ``shared_ids`` (the
journal shows them), but each trial ignores them and cold-starts. Because the
evolution's choices depend on the results (tournaments), an independent
no-sharing search soon proposes *different* graphs. For an apples-to-apples
comparison pass ``replay=`` the proposals of an earlier search
(:attr:`LocalSearchResult.proposals`): the engine then proposes exactly that
sequence of (graph, parent) pairs, in the same order and with the same trial
seeds, whatever the new results are (see :class:`ScriptedEvolution`).

TensorFlow's process-wide settings (threads, determinism) are the caller's
job: call :func:`ga_squad.reader.training.configure_tensorflow` once, first.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ga_squad.reader.config import ModelConfig, TrainConfig
from ga_squad.reader.data_cache import load_dataset
from ga_squad.reader.dataset import DataConfig, Dataset
from ga_squad.reader.training import run_trial
from ga_squad.store.best import NoBestIndividual, best_individual
from ga_squad.store.contract import TrialParams
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.journal import read_events
from ga_squad.store.journal import replay as fold_events
from ga_squad.store.paths import SearchLayout
from ga_squad.store.protocol import EngineProtocol
from ga_squad.search.space import SearchSpace
from ga_squad.sim.driver import run_sequential
from ga_squad.sim.replay import Proposal, ScriptedEvolution
from ga_squad.sim.threaded import run_threaded

_logger = logging.getLogger(__name__)

__all__ = [
    "LocalSearchConfig",
    "LocalSearchResult",
    "TrialSummary",
    "run_local_search",
    "tiny_config",
]

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TRAIN = REPO_ROOT / "data" / "squad_train_sample.json"
DEFAULT_DEV = REPO_ROOT / "data" / "squad_dev_sample.json"
DEFAULT_GLOVE = REPO_ROOT / "data" / "glove.sample.50d.txt"


@dataclass(frozen=True)
class TrialSummary:
    """One trial of a local search, in start order.

    Attributes:
        index: Position in start order (0-based; with concurrency 1 this is
            also the individual id order).
        indiv_id: The individual's id.
        parent_id: Its parent's id, or None for a cold start.
        mutation: How its graph was derived (for humans).
        seed: The trial seed the tuner gave it.
        succeeded: Whether the trial reported a result.
        f1: Validation F1 of its published weights, the fitness (None if it failed).
        em: Validation EM of those weights.
        initial_f1: Validation F1 before training (the inherited weights' score).
        val_loss: Validation loss of the published weights.
        initial_val_loss: Validation loss before training.
        dev_f1: Dev F1 of the published weights (scored once, never selected on).
        dev_em: Dev EM of the published weights.
        epochs: Epochs trained.
        warm_start: Whether it really loaded weights from its parent.
        inherited_params: Parameters loaded from the parent.
        fresh_params: Parameters initialised fresh.
        seconds: Wall-clock seconds of the trial function.
        error: The exception text of a failed trial.
    """

    index: int
    indiv_id: int
    parent_id: int | None
    mutation: str
    seed: int
    succeeded: bool
    f1: float | None
    em: float | None
    initial_f1: float | None
    epochs: int
    warm_start: bool
    inherited_params: int
    fresh_params: int
    seconds: float
    error: str | None = None
    val_loss: float | None = None
    initial_val_loss: float | None = None
    dev_f1: float | None = None
    dev_em: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of_result(cls, index: int, indiv_id: int, parent_id: int | None, mutation: str, seed: int,
                  result: Mapping[str, Any] | None, seconds: float, error: str | None = None) -> TrialSummary:
        """The summary of a trial that reported ``result`` (None: it failed with ``error``)."""
        ok = result is not None

        def metric(name: str) -> float | None:
            return float(result[name]) if ok and result.get(name) is not None else None

        return cls(
            index=index, indiv_id=indiv_id, parent_id=parent_id, mutation=mutation, seed=seed,
            succeeded=ok, f1=metric("val_f1"), em=metric("val_em"), initial_f1=metric("initial_val_f1"),
            epochs=int(result["epochs"]) if ok else 0,
            warm_start=bool(result["warm_start"]) if ok else False,
            inherited_params=int(result["inherited_params"]) if ok else 0,
            fresh_params=int(result["fresh_params"]) if ok else 0,
            seconds=seconds, error=error, val_loss=metric("val_loss"),
            initial_val_loss=metric("initial_val_loss"), dev_f1=metric("dev_f1"), dev_em=metric("dev_em"),
        )


TrialCallback = Callable[[TrialSummary], None]


@dataclass(frozen=True)
class LocalSearchConfig:
    """Everything one in-process search needs.

    Attributes:
        save_dir_root: Storage root; the search lives in
            ``<save_dir_root>/<experiment_id>/`` (must not hold a journal yet,
            unless ``resume``).
        experiment_id: Folder name of this search.
        evolution: Evolution settings (population, tournament, layers,
            initial mutations, seed).
        max_trials: Trials in total.
        concurrency: Trials at once (1: sequential, one trial at a time).
        data: Data settings (loaded once for all trials).
        model: Architecture options.
        train: Optimiser options (epochs per trial, inherited_lr_scale, ...).
        weight_sharing: False: every trial ignores ``restore_dir`` and
            ``shared_ids`` and cold-starts (the proposals are unchanged).
        cache_dir: Cache folder for the preprocessed arrays (None: none).
        timeout_s: Give up (RuntimeError) after this many seconds.
        on_trial: Called after each trial with its :class:`TrialSummary`
            (from a worker thread).
        space: The tuner's ``search_space`` option (presets to seed from,
            layer types, mutation weights); None: the base reader and every
            operator, as without the classArg.
        resume: Continue the search whose journal is already in the folder
            (``nnictl resume``'s path: the engine rebuilds its population from
            the journal and draws from a new session stream) until
            ``max_trials`` trials in total; the other settings should be the
            ones it ran with.
    """

    save_dir_root: str
    experiment_id: str
    evolution: EvolutionConfig = field(default_factory=EvolutionConfig)
    max_trials: int = 16
    concurrency: int = 1
    data: DataConfig = field(default_factory=lambda: DataConfig(str(DEFAULT_TRAIN), str(DEFAULT_DEV),
                                                                glove_path=str(DEFAULT_GLOVE)))
    model: ModelConfig = field(default_factory=ModelConfig.small)
    train: TrainConfig = field(default_factory=TrainConfig)
    weight_sharing: bool = True
    cache_dir: str | None = None
    timeout_s: float = 7 * 24 * 3600.0
    on_trial: TrialCallback | None = field(default=None, compare=False)
    space: SearchSpace | None = None
    resume: bool = False

    def __post_init__(self) -> None:
        if self.max_trials < 1 or self.concurrency < 1:
            raise ValueError("max_trials and concurrency must be >= 1")
        SearchLayout.for_experiment(self.save_dir_root, self.experiment_id)  # validates the id

    @property
    def layout(self) -> SearchLayout:
        return SearchLayout.for_experiment(self.save_dir_root, self.experiment_id)


@dataclass(frozen=True)
class LocalSearchResult:
    """What a local search did.

    Attributes:
        config: The configuration it ran with.
        trials: One summary per trial, by individual id (== start order
            with one trial at a time).
        proposals: The tuner's proposals, by individual id (for ``replay``).
        journal_path: The lineage journal.
        root: The search folder.
        wall_seconds: Wall-clock time of the whole search (dataset excluded).
    """

    config: LocalSearchConfig
    trials: tuple[TrialSummary, ...]
    proposals: tuple[Proposal, ...]
    journal_path: Path
    root: Path
    wall_seconds: float

    @property
    def best(self) -> TrialSummary | None:
        """The search's best trial, or None: :func:`ga_squad.store.best.best_individual`.

        By the fitness the search ranked by (its journal's first event: the
        lowest validation loss for ``fitness: val_loss``), among individuals
        with a published checkpoint, as ``predict`` and ``report`` name it;
        not simply the highest F1.
        """
        try:
            chosen = best_individual(self.root)
        except NoBestIndividual:
            return None
        return next((t for t in self.trials if t.indiv_id == chosen.indiv_id), None)

    def to_dict(self) -> dict[str, Any]:
        return {
            "experiment_id": self.config.experiment_id,
            "weight_sharing": self.config.weight_sharing,
            "journal_path": str(self.journal_path),
            "root": str(self.root),
            "wall_seconds": self.wall_seconds,
            "trials": [t.to_dict() for t in self.trials],
        }


def tiny_config(save_dir_root: str, experiment_id: str, **changes: Any) -> LocalSearchConfig:
    """A search that runs in seconds: 4 trials, tiny model, 1 epoch, 200/100 questions.

    Population 2, so trials 2 and 3 are children. ``changes`` override
    :class:`LocalSearchConfig` fields.
    """
    cfg = LocalSearchConfig(
        save_dir_root=save_dir_root,
        experiment_id=experiment_id,
        evolution=EvolutionConfig(population_size=2, tournament_size=2, min_layers=1, max_layers=6,
                                  initial_mutations=1, seed=0),
        max_trials=4,
        data=DataConfig(str(DEFAULT_TRAIN), str(DEFAULT_DEV), glove_path=None,
                        max_passage_len=120, train_limit=200, dev_limit=100, val_limit=100),
        model=ModelConfig.tiny(),
        train=TrainConfig(epochs=1, batch_size=32),
    )
    return dataclasses.replace(cfg, **changes)


def run_local_search(
    config: LocalSearchConfig,
    data: Dataset | None = None,
    replay: Sequence[Proposal] | None = None,
) -> LocalSearchResult:
    """Run one search to the end with real trials in this process.

    Args:
        config: The search.
        data: A preloaded dataset (must match ``config.data``); None loads it.
        replay: Proposals of an earlier search to propose again, in order
            (:attr:`LocalSearchResult.proposals`); None samples as usual.

    Returns:
        Per-trial summaries, the proposals, and where the files are.

    Raises:
        FileExistsError: if the search folder already holds a journal.
        RuntimeError: if a replay diverges or the search times out.
    """
    layout = config.layout
    if layout.journal_path.exists() and not config.resume:
        raise FileExistsError(f"{layout.journal_path} exists: pick a new experiment_id, or resume it")
    if config.resume and not layout.journal_path.exists():
        raise FileNotFoundError(f"cannot resume: no search journal at {layout.journal_path}")
    if config.resume and replay is not None:
        raise ValueError("a replay proposes a recorded sequence from the start; it cannot resume a search")
    if data is None:
        data = load_dataset(config.data, config.cache_dir)
    strategy = None if config.space is None else config.space.strategy(config.evolution)
    if replay is not None:
        script = sorted(replay, key=lambda p: p.indiv_id)
        strategy = lambda stream: ScriptedEvolution(config.evolution, script)  # noqa: E731
    tuner = EngineProtocol.for_search(config.evolution, layout, strategy=strategy)

    summaries = _restored_summaries(layout) if config.resume else []
    remaining = config.max_trials - len(tuner.engine.individuals())
    lock = threading.Lock()

    def trial(raw: Mapping[str, Any]) -> dict[str, Any]:
        params = TrialParams.from_dict(raw)
        if not config.weight_sharing:
            params = dataclasses.replace(params, restore_dir=None, shared_ids=None)
        t0 = time.perf_counter()
        try:
            result = run_trial(params, data, config.model, config.train,
                               embedding_store=Path(config.save_dir_root) / "embeddings")
        except Exception as exc:
            _record(params, None, time.perf_counter() - t0, repr(exc))
            raise
        _record(params, result, time.perf_counter() - t0, None)
        return result

    def _record(params: TrialParams, result: Mapping[str, Any] | None, seconds: float, error: str | None) -> None:
        with lock:
            summary = TrialSummary.of_result(len(summaries), params.indiv_id, params.parent_id, params.mutation,
                                             params.seed, result, seconds, error)
            summaries.append(summary)
        _logger.info("trial %d (individual %d, parent %s): F1 %s, %d epochs, warm %s, %.1f s",
                     summary.index, summary.indiv_id, summary.parent_id,
                     "failed" if summary.f1 is None else f"{summary.f1:.2f}", summary.epochs,
                     summary.warm_start, seconds)
        if config.on_trial is not None:
            config.on_trial(summary)

    t0 = time.perf_counter()
    try:
        if remaining <= 0:
            _logger.info("%s already ran %d trials: nothing to resume", layout.root, config.max_trials - remaining)
        elif config.concurrency == 1:
            run_sequential(tuner, trial, remaining, config.timeout_s)
        else:
            run_threaded(tuner, trial, config.concurrency, remaining, timeout=config.timeout_s)
    finally:
        proposals = tuple(Proposal(i.indiv_id, i.parent_id, i.graph, i.mutation)
                          for i in tuner.engine.individuals())
        tuner.engine.close()
    wall = time.perf_counter() - t0  # this session's
    # Summaries were appended at trial end; order them by start (== indiv id with one worker).
    ordered = sorted(summaries, key=lambda s: s.indiv_id)
    trials = tuple(dataclasses.replace(s, index=n) for n, s in enumerate(ordered))
    return LocalSearchResult(config, trials, proposals, layout.journal_path, layout.root, wall)


def _restored_summaries(layout: SearchLayout) -> list[TrialSummary]:
    """Summaries of the trials an earlier session ran, from its journal (seconds: as the trial measured them)."""
    records = fold_events(read_events(layout.journal_path))
    out = []
    for record in sorted(records.values(), key=lambda r: r.indiv_id):
        if record.dispatched_at is None:
            continue  # generated, never run
        result = record.result or None
        seconds = float(result.get("trial_seconds", 0.0)) if result else 0.0
        out.append(TrialSummary.of_result(len(out), record.indiv_id, record.parent_id, record.mutation,
                                          record.seed, result, seconds, None if result else record.failure))
    return out

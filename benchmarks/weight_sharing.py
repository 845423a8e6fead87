"""Does inheriting a parent's weights pay off? Four figures that cannot saturate.

Per seed, on the bundled SQuAD sample, with in-process searches
(:mod:`ga_squad.sim.local_search`) that share the data, the model size and
the evolution settings:

* the **sharing search**: regularized evolution, ``trials`` trials of
  ``epochs`` epochs; each child warm-starts the layers it shares with its
  parent. It spends ``B`` trial-epochs and ends with a best F1, the *target*.
* **(a) warm starts**: each warm child's F1 before training against its
  parent's final F1, by mutation kind (does a child start where its parent
  ended?).
* **(b) compute to target**: no-sharing searches (every trial from scratch)
  with 1, 2 and 4 epochs per trial and ``budget_factor x B`` trial-epochs
  each; the trial-epochs each needs to reach the target, or "not reached".
  ``multiple`` = that / the trial-epochs the sharing search needed to first
  reach its own best (goal: >= 3 for every no-sharing setting). A no-sharing
  search stops as soon as it reaches the target (``--no-stop-at-target``
  runs it to its budget, for the plot).
* **(c) the equal-compute baseline**: the ``base`` preset trained alone,
  from scratch, for ``B`` epochs (every epoch of the budget trained, the one
  best by the search's fitness on validation kept;
  :func:`ga_squad.reader.baseline.train_preset`, as ``make run`` trains
  each preset), the validation F1 of the epoch it keeps at each budget
  point. Cached under ``<cache_root>/cache/``, so reruns do not retrain it.
  Goal: the sharing search's best beats it at ``B``. (``make run``'s B is
  the best of every preset; this figure keeps the search's own seed.)
* **(d) the previous ratio**: the sharing search's proposals replayed cold
  (same graphs and trial seeds, no inheritance); trial-epochs sharing needs
  to reach the replay's final best / the replay's trial-epochs. It saturates
  (the first ``population`` trials are identical cold starts), hence (b).

All F1 figures are validation F1 (:func:`benchmarks.ws_figures.val_f1`).

Usage::

    .venv/bin/python benchmarks/weight_sharing.py --seeds 5     # the real settings, one seed
    .venv/bin/python benchmarks/weight_sharing.py --quick       # a few minutes
    .venv/bin/python benchmarks/weight_sharing.py --report results/weight_sharing/weight_sharing.json

Writes ``results/weight_sharing[_quick].json`` (the summary the benchmark table
quotes, see ``benchmarks/bench_json.py``), and under
``results/weight_sharing[_quick]/`` ``weight_sharing.json`` (every trial of
every search) and ``weight_sharing.png``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

from benchmarks import ws_figures as wf  # noqa: E402
from benchmarks.bench_json import write_result  # noqa: E402
from benchmarks.ws_plot import plot, print_report  # noqa: E402

logger = logging.getLogger("weight_sharing")


@dataclass(frozen=True)
class BenchConfig:
    """What to run.

    Attributes:
        seeds: Search seeds.
        trials: Trials of the sharing search.
        population: Population size (= cold starts before the first child).
        tournament: Tournament size (= population: every child extends the best of the last
            ``population`` reported; with 2 of 3 the search spent trials on shorter lineages).
        max_layers: Most hidden layers of an architecture.
        initial_mutations: Mutations of the base reader per cold start.
        epochs: Epochs per trial of the sharing search (and of the replay).
        patience: Early-stopping patience of every search trial.
        cold_epochs: Epochs per trial of the no-sharing searches of (b).
        budget_factor: The no-sharing searches get this many times the
            sharing search's trial-epochs.
        stop_at_target: Stop a no-sharing search once it reached the target.
        replay: Run the cold replay of (d).
        inherited_lr_scale: Learning-rate multiplier of inherited layers.
        start_competes: Let a child republish its start when no trained
            epoch beats it (the rule before children published what they
            trained; :attr:`ga_squad.reader.config.TrainConfig.start_competes`).
        fitness: What every search ranks by (``val_loss``, lower is better;
            ``default`` = validation F1). The figures are validation F1
            either way. With tournament 2, ranking the sharing search by F1
            reached 15.39 and 16.77 on seeds 5 and 6, by loss 22.18 and
            16.37 (``benchmarks/search_design.py``; docs/results.md).
        resume_optimizer: A child resumes its parent's Adam state
            (:attr:`ga_squad.reader.config.TrainConfig.resume_optimizer`).
        learning_rate: Adam learning rate.
        size: Model size preset.
        train_limit: Training questions (0: all 1,588 of the sample).
        dev_limit: Dev questions (0: all 598).
        max_passage_len: Passage tokens kept.
        glove: Use the bundled 50-d GloVe sample.
        threads: TensorFlow intra-op threads.
        out: Results folder.
        cache_root: Storage root whose ``cache/`` keeps baseline curves.
        keep_runs: Keep the searches' journals and checkpoints under ``out``.
    """

    seeds: tuple[int, ...] = (5, 6)
    trials: int = 12
    population: int = 3
    tournament: int = 3
    max_layers: int = 8
    initial_mutations: int = 1
    epochs: int = 1
    patience: int = 2
    cold_epochs: tuple[int, ...] = (1, 2, 4)
    budget_factor: int = 4
    stop_at_target: bool = True
    replay: bool = True
    inherited_lr_scale: float = 1.0
    start_competes: bool = False
    fitness: str = "val_loss"
    resume_optimizer: bool = True
    learning_rate: float = 1e-3
    size: str = "small"
    train_limit: int = 0
    dev_limit: int = 300
    max_passage_len: int = 200
    glove: bool = True
    threads: int = 2
    out: str = str(REPO_ROOT / "results" / "weight_sharing")
    cache_root: str = str(REPO_ROOT / "runs")
    keep_runs: bool = False

    @classmethod
    def quick(cls, **changes: Any) -> BenchConfig:
        """A few minutes on an idle 2-core machine: tiny model, fewer questions and trials, one seed."""
        base = cls(seeds=(0,), trials=6, population=2, size="tiny", train_limit=300, dev_limit=100,
                   max_passage_len=120, out=str(REPO_ROOT / "results" / "weight_sharing_quick"))
        return dataclasses.replace(base, **changes)

    def load(self) -> tuple[Any, Any, Any]:
        """``(DataConfig, Dataset, ModelConfig)`` of these settings (word width from the GloVe vectors)."""
        from ga_squad.reader.config import ModelConfig
        from ga_squad.reader.data_cache import load_dataset
        from ga_squad.reader.dataset import DataConfig
        from ga_squad.sim.local_search import DEFAULT_DEV, DEFAULT_GLOVE, DEFAULT_TRAIN

        data_cfg = DataConfig(str(DEFAULT_TRAIN), str(DEFAULT_DEV), str(DEFAULT_GLOVE) if self.glove else None,
                              max_passage_len=self.max_passage_len, train_limit=self.train_limit or None,
                              dev_limit=self.dev_limit or None)
        data = load_dataset(data_cfg, None)
        model_cfg = ModelConfig.preset(self.size)
        if data.embeddings is not None:
            model_cfg = dataclasses.replace(model_cfg, word_dim=int(data.embeddings.shape[1]))
        return data_cfg, data, model_cfg

    def settings_line(self) -> str:
        return (f"model {self.size!r}; sharing search {self.trials} trials x {self.epochs} epoch(s), population "
                f"{self.population}, tournament {self.tournament}, fitness {self.fitness}, inherited_lr_scale {self.inherited_lr_scale}, "
                f"patience {self.patience}{', start competes' if self.start_competes else ''}"
                f"{'' if self.resume_optimizer else ', fresh optimizer'}; "
                f"no-sharing searches {list(self.cold_epochs)} epoch(s)/trial with "
                f"{self.budget_factor}x the trial-epochs{' (stop at target)' if self.stop_at_target else ''}; "
                f"baseline base preset, whole budget, best epoch kept; seeds {list(self.seeds)}")


class _TargetReached(BaseException):
    """Ends a no-sharing search from its ``on_trial`` callback once it reached the target.

    A BaseException on purpose: the sequential driver counts an ``Exception``
    from a trial as a failed trial and goes on; this one passes through it and
    :func:`run_local_search` (which closes its engine on the way out).
    """


# --- the benchmark -----------------------------------------------------------------
def main(cfg: BenchConfig) -> dict[str, Any]:
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(cfg.threads, 1, deterministic=True)
    from ga_squad.reader.config import TrainConfig
    from ga_squad.search.evolution import EvolutionConfig
    from ga_squad.reader.baseline import train_preset
    from ga_squad.search.fitness import Fitness
    from ga_squad.sim.local_search import LocalSearchConfig, run_local_search

    started = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data_cfg, data, model_cfg = cfg.load()
    train_cfg = TrainConfig(epochs=cfg.epochs, patience=cfg.patience, learning_rate=cfg.learning_rate,
                            inherited_lr_scale=cfg.inherited_lr_scale, start_competes=cfg.start_competes,
                            resume_optimizer=cfg.resume_optimizer)
    print(f"data: {len(data.train)} train / {len(data.dev)} dev questions (passages <= {cfg.max_passage_len} "
          f"tokens, GloVe {'50d sample' if cfg.glove else 'none'})\n{cfg.settings_line()}", flush=True)

    runs_root = Path(tempfile.mkdtemp(prefix="ga-ws-")) if not cfg.keep_runs else out / "runs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    per_seed: list[dict[str, Any]] = []
    for seed in cfg.seeds:
        evolution = EvolutionConfig(population_size=cfg.population, tournament_size=cfg.tournament,
                                    min_layers=1, max_layers=cfg.max_layers,
                                    initial_mutations=cfg.initial_mutations, seed=seed, fitness=cfg.fitness)

        def search(name: str, trials: int, epochs: int, sharing: bool, replay: Any = None,
                   target: float | None = None) -> tuple[list[dict[str, Any]], Any]:
            seen: list[dict[str, Any]] = []

            def on_trial(summary: Any) -> None:
                seen.append(summary.to_dict())
                if target is not None and wf.selection_f1(seen[-1]) >= target:
                    raise _TargetReached

            t0 = time.perf_counter()
            result = None
            try:
                result = run_local_search(LocalSearchConfig(
                    save_dir_root=str(runs_root), experiment_id=f"{stamp}-s{seed}-{name}", evolution=evolution,
                    max_trials=trials, data=data_cfg, model=model_cfg,
                    train=dataclasses.replace(train_cfg, epochs=epochs), weight_sharing=sharing,
                    on_trial=on_trial), data=data, replay=replay)
            except _TargetReached:
                pass
            best = max(map(wf.selection_f1, seen), default=-math.inf)
            print(f"  seed {seed} {name:16s} {len(seen):3d} trials, {sum(t['epochs'] for t in seen):4d} "
                  f"trial-epochs, best F1 {best:6.2f} ({time.perf_counter() - t0:.0f} s)", flush=True)
            return seen, result

        sharing, s_result = search("sharing", cfg.trials, cfg.epochs, True)
        budget = int(sum(t["epochs"] for t in sharing))
        target = max(map(wf.selection_f1, sharing))
        entry: dict[str, Any] = {"seed": seed, "sharing": sharing,
                                 "proposals": [p.to_dict() for p in s_result.proposals]}
        entry["cold"] = {}
        for epochs in cfg.cold_epochs:
            trials = math.ceil(cfg.budget_factor * budget / epochs)
            entry["cold"][str(epochs)], _ = search(f"cold-{epochs}ep", trials, epochs, False,
                                                   target=target if cfg.stop_at_target else None)
        if cfg.replay:
            entry["cold_replay"], _ = search("cold-replay", cfg.trials, cfg.epochs, False,
                                             replay=s_result.proposals)
        t0 = time.perf_counter()
        baseline = train_preset("base", cfg.cache_root, data_cfg, model_cfg, train_cfg, budget,
                                fitness=Fitness.resolve(cfg.fitness), seed=seed, data=data)
        print(f"  seed {seed} baseline base    {budget:3d} epochs, epoch {baseline.kept_epoch} kept: F1 "
              f"{baseline.kept_val_f1:6.2f} ({time.perf_counter() - t0:.0f} s; cached in {cfg.cache_root}/cache)",
              flush=True)
        entry["baseline"] = baseline.to_dict()
        entry["figures"] = seed_figures(entry, budget)
        per_seed.append(entry)

    report = {"config": shown_config(cfg), "command": " ".join(sys.argv), "seeds": per_seed,
              "wall_seconds": time.perf_counter() - started}
    print_report(cfg, per_seed)
    json_path = out / "weight_sharing.json"
    json_path.write_text(json.dumps(report, indent=1, allow_nan=True), encoding="utf-8")
    write_result(out.name, summary(per_seed), report["config"], script="weight_sharing.py")
    png_path = out / "weight_sharing.png"
    plot(per_seed, cfg, png_path)
    print(f"\nraw numbers: {json_path}\nplot:        {png_path}\nsearches:    "
          f"{runs_root if cfg.keep_runs else '(deleted; --keep-runs keeps them)'}\n"
          f"total wall time {time.perf_counter() - started:.0f} s")
    if not cfg.keep_runs:
        shutil.rmtree(runs_root, ignore_errors=True)
    return report


def shown_config(cfg: BenchConfig) -> dict[str, Any]:
    """The settings as recorded: paths inside the repository relative to it (no machine's paths in results/)."""
    shown = dataclasses.asdict(cfg)
    for key in ("out", "cache_root"):
        path = Path(shown[key]).resolve()
        shown[key] = str(path.relative_to(REPO_ROOT)) if path.is_relative_to(REPO_ROOT) else str(path)
    return shown


def seed_figures(entry: dict[str, Any], budget: int) -> dict[str, Any]:
    """(a)-(d) of one seed from its searches' trial lists (also recomputed by ``--report``)."""
    from ga_squad.store.baselines import PresetBaseline

    baseline = PresetBaseline.from_dict(entry["baseline"])
    starts = wf.child_starts(entry["sharing"])
    figures = {
        "budget": budget,
        "warm_starts": starts,
        "warm_starts_by_kind": wf.starts_by_kind(starts),
        "compute_to_target": wf.compute_to_target(entry["sharing"], {int(k): v for k, v in entry["cold"].items()}),
        "baseline_best_so_far": list(baseline.best_so_far()),
        "baseline_at_budget": baseline.kept_val_f1,
        "baseline_dev_at_budget": baseline.dev_f1,
        "baseline_epochs_run": baseline.budget,
    }
    if "cold_replay" in entry:
        figures["replay"] = wf.compare_replay(entry["sharing"], entry["cold_replay"])
    return figures


def summary(per_seed: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """The small per-seed summary the benchmark table quotes (null = not reached)."""
    figs = [e["figures"] for e in per_seed]
    ctt = [f["compute_to_target"] for f in figs]
    cold_keys = sorted({k for c in ctt for k in c["cold"]}, key=int)
    growing = [f["warm_starts_by_kind"].get("growing") for f in figs]
    out: dict[str, Any] = {
        "seeds": [e["seed"] for e in per_seed],
        "budget": [f["budget"] for f in figs],
        "sharing_final_best": [c["target"] for c in ctt],
        "sharing_epochs_to_best": [c["sharing_epochs_to_best"] for c in ctt],
        "cold_epochs_to_target": {k: [wf.finite_or_none(c["cold"][k]["epochs_to_target"]) for c in ctt]
                                  for k in cold_keys},
        "min_multiple": [wf.finite_or_none(c["min_multiple"]) for c in ctt],
        "goal_multiple": 3.0,
        "baseline_at_budget": [f["baseline_at_budget"] for f in figs],
        "warm_children": [f["warm_starts_by_kind"].get("all", {}).get("n", 0) for f in figs],
        "warm_median_gap": [f["warm_starts_by_kind"].get("all", {}).get("median_gap") for f in figs],
        "growing_within_half_f1": [g["within_half_f1"] if g else None for g in growing],
    }
    if all("replay" in f for f in figs):
        out["ratio"] = [wf.finite_or_none(f["replay"]["ratio"]) for f in figs]
        out["ratio_strict"] = [wf.finite_or_none(f["replay"]["ratio_strict"]) for f in figs]
    return out


def reprint(path: str) -> None:
    """Print the report of an earlier run again from its JSON (figures recomputed)."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(BenchConfig)}
    config = {k: tuple(v) if isinstance(v, list) else v for k, v in report["config"].items() if k in fields}
    cfg = BenchConfig(**config)
    for e in report["seeds"]:
        e["figures"] = seed_figures(e, e["figures"]["budget"])
    print(f"report of: {report.get('command', '?')} ({report.get('wall_seconds', 0):.0f} s)")
    print_report(cfg, report["seeds"])


def parse_args(argv: Sequence[str] | None = None) -> BenchConfig | str:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a few minutes: tiny model, 6 trials, fewer questions")
    parser.add_argument("--report", metavar="JSON", help="only print the report of an earlier run's JSON")
    defaults = BenchConfig()
    for f in dataclasses.fields(BenchConfig):
        flag = "--" + f.name.replace("_", "-")
        value = getattr(defaults, f.name)
        if isinstance(value, bool):
            parser.add_argument(flag, action=argparse.BooleanOptionalAction, default=None)
        elif isinstance(value, tuple):
            parser.add_argument(flag, type=int, nargs="+", default=None)
        else:
            parser.add_argument(flag, type=int if value is None else type(value), default=None)
    args = vars(parser.parse_args(argv))
    quick = args.pop("quick")
    if args.get("report"):
        return str(args["report"])
    args.pop("report")
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in args.items() if v is not None}
    try:
        return BenchConfig.quick(**changes) if quick else BenchConfig(**changes)
    except ValueError as exc:
        parser.error(str(exc))


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parsed = parse_args()
    if isinstance(parsed, str):
        reprint(parsed)
    else:
        main(parsed)

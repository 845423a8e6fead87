"""Do children start where their parents ended? ``make run``'s search, in process.

Runs the search ``config.yml`` describes (tiny reader, 2 epochs per trial, 12
trials, population 4, tournament 2, 2..8 hidden layers, 2 initial
mutations, the bundled sample with its 50-d GloVe, passages up to 400
tokens) through :func:`ga_squad.sim.local_search.run_local_search` (the same
engine and trial code as ``nnictl``, one trial at a time), for each seed,
and prints each warm child's validation F1 before training against its
parent's, by mutation kind (:func:`benchmarks.ws_figures.starts_by_kind`),
and the share of growing-mutation children within 0.5 F1 of their parent.

It also trains the equal-compute baseline once (the base reader alone for
``trials x 2`` epochs with the trials' early stopping;
:mod:`ga_squad.sim.baseline`, cached under ``runs/cache/``) and states, per
seed, whether the search's best validation F1 beats it: the question
``make run`` answers for one seed.

Usage::

    .venv/bin/python benchmarks/child_starts.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks import ws_figures as wf  # noqa: E402
from benchmarks.bench_json import write_result  # noqa: E402


def main(seeds: list[int], trials: int, out_dir: Path | None) -> dict:
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(2, 1, deterministic=True)
    from ga_squad.reader.config import ModelConfig, TrainConfig
    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.dataset import DataConfig
    from ga_squad.search.evolution import EvolutionConfig
    from ga_squad.sim.local_search import DEFAULT_DEV, DEFAULT_GLOVE, DEFAULT_TRAIN, LocalSearchConfig, run_local_search

    data_cfg = DataConfig(str(DEFAULT_TRAIN), str(DEFAULT_DEV), str(DEFAULT_GLOVE), max_passage_len=400)
    data = load_dataset(data_cfg, None)
    model = dataclasses.replace(ModelConfig.preset("tiny"), word_dim=int(data.embeddings.shape[1]))
    from ga_squad.sim.baseline import equal_compute_baseline

    train = TrainConfig(epochs=2)
    budget = trials * train.epochs
    baseline = equal_compute_baseline(REPO_ROOT / "runs", data_cfg, model, train, budget, data=data)
    baseline_f1 = baseline.best_at(budget)
    print(f"equal-compute baseline: base reader alone for {budget} epochs (ran {baseline.epochs_run}): "
          f"val F1 {baseline_f1:.2f}", flush=True)
    rows, per_seed = [], {}
    root = Path(tempfile.mkdtemp(prefix="ga-starts-"))
    for seed in seeds:
        evolution = EvolutionConfig(population_size=4, tournament_size=2, min_layers=2, max_layers=8,
                                    initial_mutations=2, seed=seed)
        cfg = LocalSearchConfig(save_dir_root=str(root), experiment_id=f"starts-{seed}", evolution=evolution,
                                max_trials=trials, data=data_cfg, model=model, train=train)
        t0 = time.perf_counter()
        result = run_local_search(cfg, data)
        trials_ = [t.to_dict() for t in result.trials]
        starts = wf.child_starts(trials_)
        rows += starts
        per_seed[seed] = {"starts": starts, "best_f1": max(wf.selection_f1(t) for t in trials_),
                          "seconds": time.perf_counter() - t0}
        per_seed[seed]["beats_baseline"] = per_seed[seed]["best_f1"] > baseline_f1
        print(f"seed {seed}: best val F1 {per_seed[seed]['best_f1']:.2f} in {per_seed[seed]['seconds']:.0f} s "
              f"({per_seed[seed]['best_f1'] - baseline_f1:+.2f} against the equal-compute baseline)", flush=True)
        for r in starts:
            print(f"  {r['kind']:<24} child {r['indiv_id']:>2} <- {r['parent_id']:>2}: "
                  f"starts {r['initial_f1']:6.2f}, parent {r['parent_f1']:6.2f}, gap {r['gap']:+.2f}", flush=True)
        summary = {"seeds": sorted(per_seed), "trials": trials, "by_kind": wf.starts_by_kind(rows),
                   "per_seed": per_seed, "baseline": {"budget": budget, "val_f1": baseline_f1,
                                                      "dev_f1": baseline.dev_at(budget),
                                                      "epochs_run": baseline.epochs_run}}
        # after every seed: an interrupted run keeps its seeds
        write_result("child_starts", summary, {"seeds": seeds, "trials": trials}, out_dir=out_dir)
    for kind, stats in summary["by_kind"].items():
        print(f"{kind:<24} n={stats['n']:>2}  median gap {stats['median_gap']:+.2f}  "
              f"within 0.5 F1: {stats['within_half_f1']:.0%}")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--out-dir", type=Path, default=None, help="folder of child_starts.json (default results/)")
    args = parser.parse_args()
    main(args.seeds, args.trials, args.out_dir)

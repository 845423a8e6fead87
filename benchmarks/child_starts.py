"""Do children start where their parents ended? ``make run``'s search, in process.

Runs the search ``config.yml`` describes (``--config`` another; the trials'
data, model size, epochs and patience parsed from its ``trialCommand`` by
``trial/trial.py``'s own parser, the evolution settings from the tuner's
``classArgs``) through :func:`ga_squad.sim.local_search.run_local_search` (the same
engine and trial code as ``nnictl``, one trial at a time), for each seed,
and prints each warm child's validation F1 before training against its
parent's, by mutation kind (:func:`benchmarks.ws_figures.starts_by_kind`),
and the share of growing-mutation children within 0.5 F1 of their parent.

It also trains one preset alone, the first the search space starts from
(named in the output), for all ``trials x epochs`` epochs, keeping the
epoch best by the search's fitness on validation
(:func:`ga_squad.reader.baseline.train_preset`, cached under the storage
root's ``cache/`` as ``make run``'s presets are), and states, per seed,
whether the search's best validation F1 beats it. ``make run`` compares
with the best of every preset (B); this benchmark's single preset is the
search's own starting point.

Usage::

    .venv/bin/python benchmarks/child_starts.py --seeds 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

from benchmarks import ws_figures as wf  # noqa: E402
from benchmarks.bench_json import write_result  # noqa: E402


def search_settings(config_path: Path, trials: int | None):
    """What ``make run`` would run for ``config_path``: the trials' own settings and the tuner's classArgs.

    The trial settings come from ``trialCommand`` parsed by ``trial/trial.py``'s
    own parser, so data, model size, epochs and patience are the trials'.
    """
    import importlib.util
    import shlex

    from ga_squad.launch.config import load_launch_config
    from ga_squad.search.evolution import EvolutionConfig
    from ga_squad.search.space import SearchSpace

    launch = load_launch_config(config_path)
    spec = importlib.util.spec_from_file_location("ga_trial_entry", REPO_ROOT / "trial" / "trial.py")
    entry = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = entry  # its dataclasses look their module up there
    spec.loader.exec_module(entry)
    argv = shlex.split(launch.get("trialCommand"))
    trial_cfg = entry.config_from_args(entry.parse_args(argv[argv.index("trial/trial.py") + 1:]), env={})
    args = dict(launch.get("tuner", "classArgs") or {})
    evolution = EvolutionConfig(**{k: args[k] for k in ("population_size", "tournament_size", "min_layers",
                                                         "max_layers", "initial_mutations", "aging", "fitness",
                                                         "optimize_mode") if k in args})
    space = SearchSpace.from_dict(args["search_space"]) if args.get("search_space") else None
    return trial_cfg, evolution, space, trials or launch.max_trial_number, (space or SearchSpace()).presets[0]


def main(seeds: list[int], trials: int | None, out_dir: Path | None, config_path: Path = REPO_ROOT / "config.yml",
         name: str = "child_starts") -> dict:
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(2, 1, deterministic=True)
    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.baseline import train_preset
    from ga_squad.sim.local_search import LocalSearchConfig, run_local_search

    os.chdir(REPO_ROOT)  # the trial command's relative paths are relative to its code directory
    trial_cfg, evolution, space, trials, reader = search_settings(config_path, trials)
    data_cfg, train = trial_cfg.data, trial_cfg.train
    data = load_dataset(data_cfg, trial_cfg.cache_dir)
    model = dataclasses.replace(trial_cfg.model, word_dim=int(data.embeddings.shape[1]))
    budget = trials * train.epochs
    print(f"{config_path.name}: {trials} trials x {train.epochs} epochs, {evolution}", flush=True)
    baseline = train_preset(reader, trial_cfg.storage_root or REPO_ROOT / "runs", data_cfg, model, train, budget,
                            fitness=evolution.fitness_spec, data=data)
    baseline_f1 = baseline.kept_val_f1
    print(f"equal-compute baseline: the {reader} preset alone for {budget} epochs: val F1 {baseline_f1:.2f} (epoch "
          f"{baseline.kept_epoch} kept by {baseline.fitness.describe()}), dev F1 {baseline.dev_f1}, "
          f"{baseline.seconds:.0f} s", flush=True)
    rows, per_seed = [], {}
    root = Path(tempfile.mkdtemp(prefix="ga-starts-"))
    for seed in seeds:
        cfg = LocalSearchConfig(save_dir_root=str(root), experiment_id=f"starts-{seed}",
                                evolution=dataclasses.replace(evolution, seed=seed), max_trials=trials,
                                data=data_cfg, model=model, train=train, space=space)
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
                                                      "dev_f1": baseline.dev_f1, "epochs_run": baseline.budget,
                                                      "kept_epoch": baseline.kept_epoch, "reader": reader,
                                                      "seconds": baseline.seconds}}
        # after every seed: an interrupted run keeps its seeds
        write_result(name, summary, {"seeds": seeds, "trials": trials, "config": config_path.name,
                                     "evolution": dataclasses.asdict(evolution)},
                     script="child_starts.py", out_dir=out_dir)
    for kind, stats in summary["by_kind"].items():
        print(f"{kind:<24} n={stats['n']:>2}  median gap {stats['median_gap']:+.2f}  "
              f"within 0.5 F1: {stats['within_half_f1']:.0%}")
    return summary


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--trials", type=int, default=None, help="default: the config's maxTrialNumber")
    parser.add_argument("--config", type=Path, default=REPO_ROOT / "config.yml",
                        help="the experiment whose search to replicate (default config.yml, what make run runs)")
    parser.add_argument("--name", default="child_starts", help="results file stem (default child_starts)")
    parser.add_argument("--out-dir", type=Path, default=None, help="folder of the results file (default results/)")
    args = parser.parse_args()
    main(args.seeds, args.trials, args.out_dir, args.config.resolve(), args.name)

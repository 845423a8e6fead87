"""Which search design beats "train the default reader longer"? Sharing searches only, against the baseline.

The weight-sharing benchmark (:mod:`benchmarks.weight_sharing`) spends most
of its time on no-sharing searches. To compare designs of the sharing search
itself (population, tournament, aging, epochs per trial, how children
inherit), this runs just the sharing search per variant and seed, on the same
data and model settings, and prints its best validation F1 beside the
equal-compute baseline at the same trial-epoch budget (the ``base`` preset
alone, whole budget, the epoch best by validation F1 kept:
:func:`ga_squad.reader.baseline.train_preset`, cached as ``make run``'s presets are).

A variant is ``name:population/tournament[/worst][/start][/fresh][/loss]``:
``worst`` removes the worst member instead of the oldest, ``start`` lets a
child republish its start when training did not beat it, ``fresh`` gives
every child a fresh Adam, ``loss`` ranks by validation loss instead of F1
(the reported best is still the best validation F1 of any trial). Example::

    .venv/bin/python benchmarks/search_design.py --seeds 5 6 --variants p3:3/2 p2:2/2

Each run writes ``results/search_design/<name>.json`` (``--name``, default
``search_design``), so runs split over processes (one per seed) keep one file
each; ``--merge`` then collects every ``results/search_design/*.json`` into
``results/search_design.json`` (each cell keeps the command and date that
measured it) for the benchmark table (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

from benchmarks import ws_figures as wf  # noqa: E402
from benchmarks.bench_json import write_result  # noqa: E402
from benchmarks.weight_sharing import BenchConfig  # noqa: E402

RUNS_DIR = REPO_ROOT / "results" / "search_design"


@dataclasses.dataclass(frozen=True)
class Variant:
    """One design of the sharing search."""

    name: str
    population: int
    tournament: int
    aging: bool = True
    start_competes: bool = False
    resume_optimizer: bool = True
    loss_fitness: bool = False

    @classmethod
    def parse(cls, text: str) -> Variant:
        """``name:population/tournament[/worst][/start][/fresh][/loss]``."""
        name, sep, spec = text.partition(":")
        parts = spec.split("/")
        if not sep or len(parts) < 2 or not all(p.isdigit() for p in parts[:2]):
            raise ValueError(f"variant {text!r}: expected name:population/tournament[/worst][/start][/fresh][/loss]")
        flags = set(parts[2:])
        unknown = flags - {"aging", "worst", "start", "fresh", "loss"}
        if unknown:
            raise ValueError(f"variant {text!r}: unknown option(s) {sorted(unknown)}")
        return cls(name, int(parts[0]), int(parts[1]), aging="worst" not in flags,
                   start_competes="start" in flags, resume_optimizer="fresh" not in flags,
                   loss_fitness="loss" in flags)


def main(seeds: list[int], variants: list[Variant], settings: BenchConfig, name: str) -> dict[str, Any]:
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(settings.threads, 1, deterministic=True)
    from ga_squad.reader.config import TrainConfig
    from ga_squad.search.evolution import EvolutionConfig
    from ga_squad.reader.baseline import train_preset
    from ga_squad.sim.local_search import LocalSearchConfig, run_local_search

    data_cfg, data, model_cfg = settings.load()
    base_train = TrainConfig(epochs=settings.epochs, patience=settings.patience,
                             learning_rate=settings.learning_rate)
    budget = settings.trials * settings.epochs
    print(f"{settings.size} reader, {settings.trials} trials x {settings.epochs} epoch(s), "
          f"{len(data.train)} train questions; seeds {seeds}", flush=True)
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="ga-design-") as runs:
        for seed in seeds:
            baseline = train_preset("base", settings.cache_root, data_cfg, model_cfg, base_train, budget, seed=seed,
                                    data=data).kept_val_f1
            for v in variants:
                evolution = EvolutionConfig(population_size=v.population, tournament_size=v.tournament,
                                            min_layers=1, max_layers=settings.max_layers,
                                            initial_mutations=settings.initial_mutations, seed=seed, aging=v.aging,
                                            fitness="val_loss" if v.loss_fitness else "default")
                train = dataclasses.replace(base_train, start_competes=v.start_competes,
                                            resume_optimizer=v.resume_optimizer)
                seen: list[dict[str, Any]] = []
                t0 = time.perf_counter()
                run_local_search(LocalSearchConfig(
                    save_dir_root=runs, experiment_id=f"s{seed}-{v.name}", evolution=evolution,
                    max_trials=settings.trials, data=data_cfg, model=model_cfg, train=train,
                    on_trial=lambda summary: seen.append(summary.to_dict())), data=data)
                best = max(map(wf.selection_f1, seen))
                rows.append({"seed": seed, "variant": dataclasses.asdict(v), "best_f1": best,
                             "baseline_f1": baseline, "beats_baseline": best > baseline,
                             "seconds": time.perf_counter() - t0,
                             "trials": [{k: t.get(k) for k in ("indiv_id", "parent_id", "mutation", "f1",
                                                               "initial_f1", "val_loss")} for t in seen]})
                print(f"  seed {seed} {v.name:10s} best F1 {best:6.2f}   baseline {baseline:6.2f}   "
                      f"{best - baseline:+6.2f} ({rows[-1]['seconds']:.0f} s)", flush=True)
    figures = {v.name: {"best_f1": [r["best_f1"] for r in rows if r["variant"]["name"] == v.name],
                        "beats_baseline": [r["beats_baseline"] for r in rows if r["variant"]["name"] == v.name]}
               for v in variants}
    figures["seeds"] = seeds
    figures["baseline_f1"] = [next(r["baseline_f1"] for r in rows if r["seed"] == s) for s in seeds]
    write_result(name, figures, {"settings": dataclasses.asdict(settings), "variants":
                                 [dataclasses.asdict(v) for v in variants], "rows": rows},
                 script="search_design.py", out_dir=RUNS_DIR)
    return figures


def merge(runs: Path = RUNS_DIR) -> dict[str, Any]:
    """Collect the cells of every run in ``results/search_design/`` into ``results/search_design.json``."""
    import json

    cells: list[dict[str, Any]] = []
    for path in sorted(runs.glob("*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        for row in record["config"]["rows"]:
            cells.append({"variant": row["variant"]["name"], "spec": row["variant"], "seed": row["seed"],
                          "best_f1": row["best_f1"], "baseline_f1": row["baseline_f1"],
                          "file": path.name, "command": record["command"], "date": record["date"]})
    if not cells:
        raise SystemExit(f"no search-design runs in {runs}")
    write_result("search_design", {"cells": cells}, {"merged_from": sorted({c["file"] for c in cells})},
                 script="search_design.py")
    return {"cells": cells}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, nargs="+", default=[5, 6])
    parser.add_argument("--variants", nargs="+", default=["p3:3/2", "p2:2/2"], type=Variant.parse)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--name", default="search_design", help="results file stem")
    parser.add_argument("--merge", action="store_true",
                        help="only collect results/search_design/*.json into results/search_design.json")
    args = parser.parse_args()
    if args.merge:
        merge()
    else:
        main(args.seeds, args.variants, BenchConfig(threads=args.threads), args.name)

"""A search seeded with the presets, on the shared data: what does evolution add to DrQA and BiDAF?

Runs one in-process search (:func:`ga_squad.sim.local_search.run_local_search`,
the same engine and trial code as ``nnictl``) whose cold starts are the preset
readers (``search_space: {presets: [drqa, bidaf, base]}``; the first round is
the presets as published), on the data of ``benchmarks/reader_quality.py``
(the 11,877 shared training questions less a 5 % validation split by article,
the first 2,000 dev questions, the 50-d GloVe subset, ``--size small``). The
fitness is validation loss by default (``--fitness``; ``config.yml``'s choice:
on the sample it let the search see what a feature is worth before its F1
moved); children inherit their parent's weights and Adam state and publish
what they trained.

The search is a hill climb by default (``--tournament`` = population, the
worst member removed, not the oldest): with ten trials, regularized
evolution's aging removes the first cold start, DrQA, after the first child,
and a tournament of 2 out of 3 picks the weaker presets as parents half the
time (measured on the first attempt: children of ``base`` while DrQA led by
21 F1). NASH (Elsken et al. 2017) hill-climbs over morphisms for the same
reason: a short budget is best spent continuing the leader.

The search's best *graph* is then judged the way the presets are: retrained
from scratch for the same epochs by ``reader_quality.py --journal`` (the
command is printed at the end), so that the comparison with the best preset
is not flattered by the epochs a child inherited.

Usage::

    .venv/bin/python benchmarks/seeded_search.py                       # about 30-40 min on 2 cores
    .venv/bin/python benchmarks/seeded_search.py --trials 30 --resume <id>   # continue that search to 30 trials in all
    .venv/bin/python benchmarks/reader_quality.py --presets '' --journal runs/seeded/<id>/lineage.jsonl

Writes ``results/seeded_search.json`` (every trial: parent, mutation,
validation and dev F1, seconds) and leaves the search in
``runs/seeded/<id>/``.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

from benchmarks.bench_json import write_result  # noqa: E402

SHARED = REPO_ROOT.parent / "shared" / "data"
logger = logging.getLogger("seeded_search")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--presets", default="drqa,bidaf,base", help="presets the cold starts cycle through")
    p.add_argument("--trials", type=int, default=10)
    p.add_argument("--epochs", type=int, default=1, help="epochs per trial")
    p.add_argument("--population", type=int, default=3)
    p.add_argument("--tournament", type=int, default=3,
                   help="members sampled per selection (default 3 = the population: the best is always the parent)")
    p.add_argument("--aging", action=argparse.BooleanOptionalAction, default=False,
                   help="remove the oldest member (regularized evolution) instead of the worst (default: the worst)")
    p.add_argument("--fitness", default="val_loss",
                   help="reported metric the search ranks by (default val_loss, lower is better; 'default': validation F1)")
    p.add_argument("--siblings", type=int, default=1,
                   help="children per selected parent before the next selection (a brood; 1: select anew each time)")
    p.add_argument("--control", action="store_true",
                   help="the first child of every brood is the parent unchanged (needs --siblings >= 2)")
    p.add_argument("--mutations", action="append", default=[], metavar="NAME=WEIGHT",
                   help="an operator's weight (the search_space 'mutations' option; repeatable)")
    p.add_argument("--max-layers", type=int, default=12)
    p.add_argument("--size", default="small")
    p.add_argument("--train", default=str(SHARED / "squad" / "train.json"))
    p.add_argument("--dev", default=str(SHARED / "squad" / "dev.json"))
    p.add_argument("--glove", default=str(SHARED / "glove" / "glove.6B.50d.subset.txt"))
    p.add_argument("--dev-limit", type=int, default=2000)
    p.add_argument("--train-limit", type=int)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default="seeded_search", help="results/<name>.json to write")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--root", default=str(REPO_ROOT / "runs" / "seeded"), help="storage root of the search")
    p.add_argument("--resume", metavar="ID",
                   help="continue the search <root>/ID until --trials trials in total (run it with the "
                        "settings it started with; the result lists every trial)")
    return p.parse_args(argv)


def mutation_weights(items: list[str]) -> dict[str, float]:
    """``["widen_rnn=4", ...]`` -> ``{"widen_rnn": 4.0}`` (names are checked by the search space)."""
    out = {}
    for item in items:
        name, _, weight = item.partition("=")  # no "=": weight "" is no number
        try:
            value = float(weight)
        except ValueError:
            value = None
        if value is None or not name.strip():
            raise SystemExit(f"--mutations {item!r}: expected NAME=WEIGHT, e.g. widen_rnn=4")
        out[name.strip()] = value
    return out


def main(a: argparse.Namespace) -> dict[str, Any]:
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(a.threads, 1, deterministic=True)
    from ga_squad.reader.config import ModelConfig, TrainConfig
    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.dataset import DataConfig
    from ga_squad.search.evolution import EvolutionConfig
    from ga_squad.search.space import SearchSpace
    from ga_squad.sim.local_search import LocalSearchConfig, run_local_search

    presets = [n.strip() for n in a.presets.split(",") if n.strip()]
    space = {"presets": presets, **({"mutations": mutation_weights(a.mutations)} if a.mutations else {})}
    data_cfg = DataConfig(a.train, a.dev, a.glove, train_limit=a.train_limit, dev_limit=a.dev_limit)
    data = load_dataset(data_cfg, str(REPO_ROOT / "runs" / "cache"))
    model = dataclasses.replace(ModelConfig.preset(a.size), word_dim=int(data.embeddings.shape[1]))
    evolution = EvolutionConfig(population_size=a.population, tournament_size=a.tournament, min_layers=1,
                                max_layers=a.max_layers, initial_mutations=1, seed=a.seed,
                                aging=a.aging, fitness=a.fitness, siblings=a.siblings,
                                control=a.control)
    experiment_id = a.resume or f"seeded-{a.seed}-{time.strftime('%Y%m%d-%H%M%S')}"

    def show(t) -> None:
        print(f"trial {t.indiv_id:>2} parent {t.parent_id!s:>4} {t.mutation[:60]:<60} "
              f"val F1 {t.initial_f1 or 0:6.2f} -> {t.f1 or 0:6.2f}  dev F1 {t.dev_f1 or 0:6.2f}  "
              f"{t.seconds:5.0f} s", flush=True)

    cfg = LocalSearchConfig(save_dir_root=a.root, experiment_id=experiment_id, evolution=evolution,
                            max_trials=a.trials, data=data_cfg, model=model,
                            train=TrainConfig(epochs=a.epochs, seed=a.seed),
                            space=SearchSpace.from_dict(space), on_trial=show, resume=a.resume is not None)
    result = run_local_search(cfg, data)
    best = result.best
    figures = {
        "trials": [t.to_dict() for t in result.trials],
        "best": None if best is None else {"indiv_id": best.indiv_id, "val_f1": best.f1, "dev_f1": best.dev_f1},
        "journal": str(result.journal_path.relative_to(REPO_ROOT)) if result.journal_path.is_relative_to(REPO_ROOT)
        else str(result.journal_path),
        "wall_seconds": result.wall_seconds,  # of this run (a resumed search: the new trials only)
    }
    write_result(a.name, figures,
                 {"presets": presets, "trials": a.trials, "epochs_per_trial": a.epochs,
                  "population": a.population, "tournament": a.tournament, "aging": a.aging,
                  "fitness": a.fitness, "siblings": a.siblings, "control": a.control, "size": a.size,
                  "mutations": space.get("mutations", {}), "train_questions": len(data.train),
                  "dev_questions": len(data.dev), "seed": a.seed, "resumed": a.resume},
                 script="seeded_search.py")
    if best is not None:
        print(f"\nbest: individual {best.indiv_id}, val F1 {best.f1:.2f}, dev F1 {best.dev_f1:.2f} "
              f"({result.wall_seconds / 60:.1f} min)\nretrain it from scratch beside the presets:\n"
              f"  .venv/bin/python benchmarks/reader_quality.py --presets '' --journal {result.journal_path}")
    return figures


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(parse_args())

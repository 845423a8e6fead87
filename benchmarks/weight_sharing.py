"""Does inheriting a parent's weights reach good architectures with less training?

For each seed, three in-process searches (:mod:`ga_squad.sim.local_search`) on the
bundled SQuAD sample, with the same population, trial budget, epochs per
trial and data:

* **sharing** -- regularized evolution; each child warm-starts the layers it
  shares with its parent from the parent's checkpoint;
* **cold (replay)** -- exactly the sharing search's sequence of (graph,
  parent) proposals, with the same trial seeds, every trial trained from
  scratch (``restore_dir`` ignored). This is the apples-to-apples comparison:
  same architectures, only the inheritance differs. Its first
  ``population`` trials are the same cold starts as the sharing search's, so
  they score the same;
* **cold (independent)** (``--independent``) -- a no-sharing search run on its
  own with the same seed: the tournaments see the cold scores, so after the
  first population it proposes other graphs. Reported for completeness.

Trial-epochs after trial *i* = the sum of epochs trained by trials 0..i. The
headline figure, per seed: trial-epochs the sharing search needed to first
reach the cold (replay) search's final best F1, divided by the trial-epochs
the cold search spent in all (``ratio``; the goal is <= 1/3). A stricter
figure divides by the trial-epochs the cold search needed to first reach its
own final best (``ratio_strict``; equal to ``ratio`` when the cold search
found its best in its last trial). If the sharing search never reaches the
target, both are ``inf`` ("not reached"). Note that the first
``population`` trials of both searches are the same cold starts, so neither
ratio can fall below ``population / trials`` unless the cold search's best
is one of them (then sharing "reaches" it at the same trial, and
``ratio_strict`` is 1).

Usage::

    .venv/bin/python benchmarks/weight_sharing.py            # ~30 min on 2 cores
    .venv/bin/python benchmarks/weight_sharing.py --quick    # a few minutes

Writes ``results/weight_sharing[_quick].json`` (the summary the README table
quotes, see ``benchmarks/bench_json.py``) and
``results/weight_sharing[_quick]/weight_sharing.json`` (every trial of
every search) and ``weight_sharing.png`` (best dev F1 so far vs trial-epochs).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from benchmarks.bench_json import write_result  # noqa: E402

logger = logging.getLogger("weight_sharing")


@dataclass(frozen=True)
class BenchConfig:
    """What to run.

    Attributes:
        seeds: Search seeds (one sharing + one cold search each).
        trials: Trials per search.
        population: Population size (= cold starts before the first child).
        tournament: Tournament size.
        max_layers: Most hidden layers of an architecture.
        initial_mutations: Mutations of the base reader per cold start.
        epochs: Epochs per trial (each child trains this many, warm or cold).
        patience: Early-stopping patience (epochs).
        inherited_lr_scale: Learning-rate multiplier of inherited layers.
        learning_rate: Adam learning rate.
        size: Model size preset.
        train_limit: Training questions (0: all 1,588 of the sample).
        dev_limit: Dev questions (0: all 598).
        max_passage_len: Passage tokens kept.
        glove: Use the bundled 50-d GloVe sample.
        independent: Also run an independent no-sharing search per seed.
        threads: TensorFlow intra-op threads.
        out: Results folder.
        keep_runs: Keep the searches' journals and checkpoints under ``out``.
    """

    seeds: tuple[int, ...] = (0, 1, 2)
    trials: int = 12
    population: int = 3
    tournament: int = 2
    max_layers: int = 8
    initial_mutations: int = 1
    epochs: int = 1
    patience: int = 2
    inherited_lr_scale: float = 1.0
    learning_rate: float = 1e-3
    size: str = "small"
    train_limit: int = 0
    dev_limit: int = 300
    max_passage_len: int = 200
    glove: bool = True
    independent: bool = False
    threads: int = 2
    out: str = str(REPO_ROOT / "results" / "weight_sharing")
    keep_runs: bool = False

    @classmethod
    def quick(cls, **changes: Any) -> BenchConfig:
        """A few minutes: tiny model, fewer questions and trials, 3 seeds."""
        base = cls(trials=6, population=2, size="tiny", train_limit=300, dev_limit=100,
                   max_passage_len=120, out=str(REPO_ROOT / "results" / "weight_sharing_quick"))
        return dataclasses.replace(base, **changes)


# --- figures from search results (pure) ------------------------------------------
def cumulative(values: Sequence[float]) -> list[float]:
    out: list[float] = []
    total = 0.0
    for v in values:
        total += v
        out.append(total)
    return out


def best_so_far(f1s: Sequence[float | None]) -> list[float]:
    out: list[float] = []
    best = -math.inf
    for f in f1s:
        if f is not None and f > best:
            best = f
        out.append(best)
    return out


def epochs_to_reach(best: Sequence[float], cum_epochs: Sequence[float], target: float) -> float:
    """Trial-epochs spent when ``best`` first reaches ``target`` (inf: never)."""
    for b, e in zip(best, cum_epochs):
        if b >= target:
            return e
    return math.inf


def compare(sharing: dict[str, Any], cold: dict[str, Any]) -> dict[str, Any]:
    """Headline figures of one seed from two searches' per-trial lists."""
    s_best = best_so_far([t["f1"] for t in sharing["trials"]])
    c_best = best_so_far([t["f1"] for t in cold["trials"]])
    s_cum = cumulative([t["epochs"] for t in sharing["trials"]])
    c_cum = cumulative([t["epochs"] for t in cold["trials"]])
    target = c_best[-1]
    s_need = epochs_to_reach(s_best, s_cum, target)
    c_need = epochs_to_reach(c_best, c_cum, target)
    return {
        "sharing_final_best": s_best[-1],
        "cold_final_best": target,
        "sharing_epochs_to_cold_best": s_need,
        "cold_epochs_to_cold_best": c_need,
        "cold_total_epochs": c_cum[-1],
        "sharing_total_epochs": s_cum[-1],
        "ratio": s_need / c_cum[-1],
        "ratio_strict": s_need / c_need,
    }


def spread(values: Sequence[float]) -> str:
    finite = [v for v in values if math.isfinite(v)]
    text = "/".join(fmt_ratio(v) for v in values)
    if len(finite) < len(values):
        return f"{text} (per seed; {len(values) - len(finite)} of {len(values)} not reached)"
    sd = statistics.stdev(finite) if len(finite) > 1 else 0.0
    return (f"{text} (per seed); median {statistics.median(finite):.3f}, mean {statistics.mean(finite):.3f} "
            f"+- {sd:.3f}, range {min(finite):.3f}-{max(finite):.3f}")


def fmt_ratio(v: float) -> str:
    return "not reached" if not math.isfinite(v) else f"{v:.3f}"


def child_stats(search: dict[str, Any], proposals: Sequence[dict[str, Any]] | None = None) -> dict[str, float]:
    """Means over children: F1, F1 before training, parent's F1, and how much was shared.

    ``shared_layer_fraction`` (needs ``proposals``): of a child's layers with
    weights, the fraction whose hash id it shares with its parent (a layer
    keeps its id only if nothing upstream of it changed).
    """
    children = [t for t in search["trials"] if t["parent_id"] is not None and t["f1"] is not None]
    if not children:
        return {}
    f1_of = {t["indiv_id"]: t["f1"] for t in search["trials"]}
    stats = {
        "children": len(children),
        "mean_child_f1": statistics.mean(t["f1"] for t in children),
        "mean_child_initial_f1": statistics.mean(t["initial_f1"] for t in children),
        "mean_parent_f1": statistics.mean(f1_of[t["parent_id"]] for t in children),
        "children_better_than_parent": sum(t["f1"] > f1_of[t["parent_id"]] for t in children) / len(children),
    }
    if proposals:
        from ga_squad.search.graph import Graph

        graphs = {p["indiv_id"]: Graph.from_dict(p["graph"]) for p in proposals}
        fractions = []
        for t in children:
            child, parent = graphs[t["indiv_id"]], graphs[t["parent_id"]]
            fractions.append(len(child.shared_ids(parent)) / max(len(child.weight_ids()), 1))
        stats["shared_layer_fraction"] = statistics.mean(fractions)
    return stats


# --- the benchmark -----------------------------------------------------------------
def main(cfg: BenchConfig) -> dict[str, Any]:
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(cfg.threads, 1, deterministic=True)
    from ga_squad.reader.config import ModelConfig, TrainConfig
    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.dataset import DataConfig
    from ga_squad.search.evolution import EvolutionConfig
    from ga_squad.sim.local_search import DEFAULT_DEV, DEFAULT_GLOVE, DEFAULT_TRAIN, LocalSearchConfig, run_local_search

    started = time.perf_counter()
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    data_cfg = DataConfig(str(DEFAULT_TRAIN), str(DEFAULT_DEV), str(DEFAULT_GLOVE) if cfg.glove else None,
                          max_passage_len=cfg.max_passage_len, train_limit=cfg.train_limit or None,
                          dev_limit=cfg.dev_limit or None)
    data = load_dataset(data_cfg, None)
    model_cfg = ModelConfig.preset(cfg.size)
    if data.embeddings is not None:
        model_cfg = dataclasses.replace(model_cfg, word_dim=int(data.embeddings.shape[1]))
    train_cfg = TrainConfig(epochs=cfg.epochs, patience=cfg.patience, learning_rate=cfg.learning_rate,
                            inherited_lr_scale=cfg.inherited_lr_scale)
    print(f"data: {len(data.train)} train / {len(data.dev)} dev questions (passages <= {cfg.max_passage_len} "
          f"tokens, GloVe {'50d sample' if cfg.glove else 'none'}); model {cfg.size!r}; {cfg.trials} trials per "
          f"search, population {cfg.population}, tournament {cfg.tournament}, {cfg.epochs} epoch(s) per trial, "
          f"inherited_lr_scale {cfg.inherited_lr_scale}, seeds {list(cfg.seeds)}", flush=True)

    runs_root = Path(tempfile.mkdtemp(prefix="ga-ws-")) if not cfg.keep_runs else out / "runs"
    stamp = time.strftime("%Y%m%d-%H%M%S")
    per_seed: list[dict[str, Any]] = []
    for seed in cfg.seeds:
        evolution = EvolutionConfig(population_size=cfg.population, tournament_size=cfg.tournament,
                                    min_layers=1, max_layers=cfg.max_layers,
                                    initial_mutations=cfg.initial_mutations, seed=seed)

        def search(name: str, sharing: bool, replay: Any = None) -> dict[str, Any]:
            t0 = time.perf_counter()
            result = run_local_search(LocalSearchConfig(
                save_dir_root=str(runs_root), experiment_id=f"{stamp}-s{seed}-{name}", evolution=evolution,
                max_trials=cfg.trials, data=data_cfg, model=model_cfg, train=train_cfg,
                weight_sharing=sharing), data=data, replay=replay)
            record = result.to_dict()
            print(f"  seed {seed} {name:18s} best F1 {result.best.f1 if result.best else float('nan'):6.2f}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
            return record | {"proposals": [p.to_dict() for p in result.proposals], "_result": result}

        sharing = search("sharing", True)
        cold = search("cold-replay", False, replay=sharing["_result"].proposals)
        entry: dict[str, Any] = {"seed": seed, "sharing": sharing, "cold_replay": cold}
        if cfg.independent:
            entry["cold_independent"] = search("cold-independent", False)
        for key in ("sharing", "cold_replay", "cold_independent"):
            if key in entry:
                entry[key].pop("_result")
                if key != "sharing":
                    entry[key].pop("proposals")
        entry["figures"] = compare(entry["sharing"], entry["cold_replay"])
        if cfg.independent:
            entry["figures_independent"] = compare(entry["sharing"], entry["cold_independent"])
        per_seed.append(entry)

    report = {"config": dataclasses.asdict(cfg), "command": " ".join(sys.argv), "seeds": per_seed,
              "wall_seconds": time.perf_counter() - started}
    print_report(cfg, per_seed)
    report["summary"] = {
        "ratio": [e["figures"]["ratio"] for e in per_seed],
        "ratio_strict": [e["figures"]["ratio_strict"] for e in per_seed],
        "goal_ratio": 1 / 3,
    }
    json_path = out / "weight_sharing.json"
    json_path.write_text(json.dumps(report, indent=1, default=_json_default, allow_nan=True), encoding="utf-8")
    figures = {key: [e["figures"][key] for e in per_seed]
               for key in ("ratio", "ratio_strict", "sharing_final_best", "cold_final_best")}
    figures["seeds"] = [e["seed"] for e in per_seed]
    figures["goal_ratio"] = 1 / 3
    # one small summary per configuration (weight_sharing.json, weight_sharing_quick.json)
    write_result(out.name, figures, report["config"], script="weight_sharing.py")
    png_path = out / "weight_sharing.png"
    plot(per_seed, cfg, png_path)
    print(f"\nraw numbers: {json_path}\nplot:        {png_path}\nsearches:    "
          f"{runs_root if cfg.keep_runs else '(deleted; --keep-runs keeps them)'}\n"
          f"total wall time {time.perf_counter() - started:.0f} s")
    if not cfg.keep_runs:
        import shutil

        shutil.rmtree(runs_root, ignore_errors=True)
    return report


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item"):
        return obj.item()
    return str(obj)


def print_report(cfg: BenchConfig, per_seed: list[dict[str, Any]]) -> None:
    kinds = [("sharing", "share"), ("cold_replay", "cold")] + (
        [("cold_independent", "indep")] if cfg.independent else [])
    print("\nbest dev F1 so far, per trial index (epochs = trial-epochs spent so far; "
          "w = child warm-started from its parent)")
    header = "trial " + "".join(
        f"| s{e['seed']} {'ep':>3s} " + "".join(f"{label:>6s} " for _, label in kinds) for e in per_seed)
    print(header)
    for i in range(cfg.trials):
        row = f"{i:5d} "
        for e in per_seed:
            st = e["sharing"]["trials"][i]
            cum = cumulative([t["epochs"] for t in e["sharing"]["trials"]])[i]
            row += f"| {'w' if st['warm_start'] else ' '}  {cum:3.0f} "
            for key, _ in kinds:
                row += f"{best_so_far([t['f1'] for t in e[key]['trials']])[i]:6.2f} "
        print(row)
    print("\nper seed (target = the cold replay search's final best F1):")
    for e in per_seed:
        f = e["figures"]
        cs, ss = child_stats(e["cold_replay"]), child_stats(e["sharing"], e["sharing"].get("proposals"))
        print(f"  seed {e['seed']}: final best sharing {f['sharing_final_best']:.2f}, cold {f['cold_final_best']:.2f}; "
              f"sharing reached the cold best after {f['sharing_epochs_to_cold_best']:.0f} trial-epochs, cold after "
              f"{f['cold_epochs_to_cold_best']:.0f} of its {f['cold_total_epochs']:.0f}: ratio "
              f"{fmt_ratio(f['ratio'])}, strict {fmt_ratio(f['ratio_strict'])}")
        if ss:
            shared = (f", {100 * ss['shared_layer_fraction']:.0f}% of their layers inherited"
                      if "shared_layer_fraction" in ss else "")
            print(f"          {ss['children']} children: mean F1 sharing {ss['mean_child_f1']:.2f} vs cold "
                  f"{cs['mean_child_f1']:.2f}; warm children start at F1 {ss['mean_child_initial_f1']:.2f} before "
                  f"training (parents {ss['mean_parent_f1']:.2f}){shared}; "
                  f"{100 * ss['children_better_than_parent']:.0f}% beat their parent (cold: "
                  f"{100 * cs['children_better_than_parent']:.0f}%)")
        if "figures_independent" in e:
            g = e["figures_independent"]
            print(f"          independent cold search: final best {g['cold_final_best']:.2f}, ratio "
                  f"{fmt_ratio(g['ratio'])}, strict {fmt_ratio(g['ratio_strict'])}")
    ratios = [e["figures"]["ratio"] for e in per_seed]
    strict = [e["figures"]["ratio_strict"] for e in per_seed]
    print(f"\nratio = sharing trial-epochs to reach the cold search's final best F1 / the cold search's "
          f"trial-epochs ({cfg.trials} trials):\n"
          f"  {spread(ratios)}\n  goal <= 0.333: met on "
          f"{sum(r <= 1 / 3 for r in ratios)} of {len(ratios)} seeds")
    print(f"strict ratio = the same / the cold search's trial-epochs until it first reached its best:\n"
          f"  {spread(strict)}")
    if cfg.independent:
        ind = [e["figures_independent"]["ratio"] for e in per_seed]
        print(f"ratio vs an independent cold search:\n  {spread(ind)}")


def plot(per_seed: list[dict[str, Any]], cfg: BenchConfig, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    styles = {"sharing": ("tab:blue", "weight sharing"), "cold_replay": ("tab:orange", "cold start (same graphs)"),
              "cold_independent": ("tab:green", "cold start (independent search)")}
    for key, (color, label) in styles.items():
        for n, e in enumerate(per_seed):
            if key not in e:
                continue
            trials = e[key]["trials"]
            x = cumulative([t["epochs"] for t in trials])
            y = best_so_far([t["f1"] for t in trials])
            ax.step(x, y, where="post", color=color, alpha=0.8, lw=1.5,
                    ls=("-", "--", ":", "-.")[n % 4], label=f"{label}, seed {e['seed']}")
        if key == "cold_replay":
            for e in per_seed:
                ax.axhline(e["figures"]["cold_final_best"], color=color, lw=0.5, alpha=0.4)
    ax.set_xlabel("trial-epochs spent")
    ax.set_ylabel("best dev F1 so far")
    ax.set_title(f"Weight sharing vs cold start: {cfg.trials} trials, population {cfg.population}, "
                 f"{cfg.epochs} epoch(s)/trial, {cfg.size}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def reprint(path: str) -> None:
    """Print the report of an earlier run again from its JSON (figures recomputed)."""
    report = json.loads(Path(path).read_text(encoding="utf-8"))
    config = dict(report["config"], seeds=tuple(report["config"]["seeds"]))
    cfg = BenchConfig(**config)
    per_seed = report["seeds"]
    for e in per_seed:
        e["figures"] = compare(e["sharing"], e["cold_replay"])
        if "cold_independent" in e:
            e["figures_independent"] = compare(e["sharing"], e["cold_independent"])
    print(f"report of: {report.get('command', '?')} ({report.get('wall_seconds', 0):.0f} s)")
    print_report(cfg, per_seed)


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
            parser.add_argument(flag, type=type(value), default=None)
    args = vars(parser.parse_args(argv))
    quick = args.pop("quick")
    if args.get("report"):
        return str(args["report"])
    args.pop("report")
    changes = {k: (tuple(v) if isinstance(v, list) else v) for k, v in args.items() if v is not None}
    return BenchConfig.quick(**changes) if quick else BenchConfig(**changes)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parsed = parse_args()
    if isinstance(parsed, str):
        reprint(parsed)
    else:
        main(parsed)

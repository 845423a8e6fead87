"""Does the search beat the best hand-designed reader at equal compute? Four arms, paired by seed.

For one configuration (``config.yml``, what ``make run`` launches, by default)
and each seed, in this process, on the configuration's own data, model size
and optimiser settings (parsed from its ``trialCommand`` by the trial's own
parser) and with the same budget of ``maxTrialNumber x --epochs``
trial-epochs:

* **A, the search as shipped**: the configuration's tuner settings
  (``classArgs``: population, tournament, fitness, search space), through
  the engine and protocol the NNI tuner runs (:mod:`ga_squad.sim.local_search`).
* **B, the best preset alone**: every preset the search space starts from,
  and at least ``drqa``, ``bidaf`` and ``base``, each trained from scratch
  for the whole budget (every epoch; the epoch kept is chosen by the
  search's fitness on validation). B is the preset whose kept epoch is best
  by that fitness: what a user who skips the search would train.
* **C, random search with the same inheritance** (regularized evolution's own
  ablation, Real et al. 2019): the same cold starts, then each child mutates
  a parent drawn uniformly from *every* reported individual (no selection)
  and warm-starts from it, as A's children do.
* **D, successive halving without sharing** (Jamieson and Talwalkar 2016):
  cold starts drawn from the same space, ``eta`` = 2; the better half by the
  fitness keeps training from its own checkpoint (a promotion resumes, as in
  ASHA), the last survivor takes what is left of the budget.

Every arm names its best individual by the search's fitness on validation
and reads that individual's dev F1, which its trial scored once on the
weights it published. Nothing here selects on dev.

Records: one JSON per (arm, seed) under ``results/search_vs_baselines/<setting>/``
(so runs can be spread over sessions and resumed: an existing record is not
rerun); ``--summary`` aggregates them into ``results/search_vs_baselines_<setting>.json``
(paired gaps A-B, A-C, A-D with 95 % bootstrap intervals over the seeds,
:mod:`ga_squad.analysis.paired`) and a figure. Which seeds are tuning and which
are report seeds is fixed in ``docs/protocol.md``; ``--summary`` reports
them apart.

Usage (from the repository root)::

    python benchmarks/search_vs_baselines.py --seeds 100 --arms A B     # one tuning seed, two arms
    python benchmarks/search_vs_baselines.py --summary                   # aggregate what exists
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from benchmarks.bench_json import write_result
from ga_squad.files import write_json_atomic
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.search.graph import Graph
from ga_squad.search.presets import PRESETS, preset
from ga_squad.search.space import SearchSpace, SeededEvolution

logger = logging.getLogger("search_vs_baselines")

REPO_ROOT = Path(__file__).resolve().parents[1]
RESULTS = REPO_ROOT / "results" / "search_vs_baselines"
ARMS = ("A", "B", "C", "D")
#: The presets B always trains, beside those the search space starts from.
BASELINE_PRESETS = ("drqa", "bidaf", "base")
#: Seeds fixed before the design was frozen (docs/protocol.md): decisions use only TUNING.
# Settings are result folders. sample_r2 is the second design round on config.yml's configuration: its
# report seeds were fixed before its tuning results were seen (docs/protocol.md, "Second round"); sample_r3
# the third ("Third round").
TUNING_SEEDS = {"sample": (100, 101), "sample_r2": (100, 101), "sample_r3": (100, 101), "shared": (300,)}
REPORT_SEEDS = {"sample": (200, 201, 202, 203, 204), "sample_r2": (205, 206, 207, 208, 209),
                "sample_r3": (215, 216, 217, 218, 219),
                "shared": (400, 401, 402, 403, 404)}
#: More report seeds for a design already reported, fixed before any run on them (docs/protocol.md,
#: "Arm D and five more report seeds"); summarised on their own and with REPORT_SEEDS, never instead.
EXTRA_REPORT_SEEDS = {"sample_r2": (210, 211, 212, 213, 214)}
#: ``EvolutionConfig`` fields a config's ``classArgs`` may set.
_EVOLUTION_KEYS = tuple(f.name for f in dataclasses.fields(EvolutionConfig))


# --- the configuration under test ------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    """A configuration file turned into what the arms need.

    Attributes:
        name: ``sample`` (config.yml) or ``shared``; names the results folder.
        config_path: The configuration file.
        trial_argv: Its ``trialCommand`` after ``trial/trial.py``.
        evolution: The tuner's evolution settings (seed replaced per run).
        space: The tuner's search space.
        trials: ``maxTrialNumber``.
    """

    name: str
    config_path: Path
    trial_argv: tuple[str, ...]
    evolution: EvolutionConfig
    space: SearchSpace
    trials: int

    @classmethod
    def load(cls, name: str, path: Path) -> Setting:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        argv = shlex.split(raw["trialCommand"])
        script = next(i for i, a in enumerate(argv) if a.endswith("trial.py"))
        class_args = dict(raw["tuner"].get("classArgs") or {})
        evolution = EvolutionConfig(**{k: v for k, v in class_args.items() if k in _EVOLUTION_KEYS})
        return cls(name, path, tuple(argv[script + 1:]), evolution,
                   SearchSpace.from_dict(class_args.get("search_space")), int(raw["maxTrialNumber"]))

    def trial_config(self) -> Any:
        """The trial's own configuration, built by the trial's own parser."""
        from trial.trial import config_from_args, parse_args  # the one parser of trialCommand

        return config_from_args(parse_args(list(self.trial_argv)), env={})

    def presets(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*self.space.presets, *BASELINE_PRESETS)))


@dataclass
class Context:
    """What every arm of one seed shares: data loaded once, configs, a scratch folder."""

    setting: Setting
    seed: int
    data: Any
    model: Any
    train: Any
    data_cfg: Any
    scratch: Path
    out: Path
    b_presets: tuple[str, ...] = ()

    @property
    def budget(self) -> int:
        return self.setting.trials * self.train.epochs

    @property
    def fitness(self) -> str:
        return self.setting.evolution.fitness

    def better(self, a: float, b: float) -> bool:
        return self.setting.evolution.better(a, b)


# --- one trial's record ---------------------------------------------------------------------
def trial_record(result: Mapping[str, Any], *, arm_epochs: int, label: str, parent: int | None,
                 seconds: float, examples: int) -> dict[str, Any]:
    """The fields a figure needs from one trial result (validation, dev once, cost)."""
    keep = ("default", "val_f1", "val_em", "val_loss", "dev_f1", "dev_em", "initial_val_f1", "initial_val_loss",
            "epochs", "best_epoch", "total_params", "warm_start")
    return {"label": label, "parent": parent, "trial_epochs": arm_epochs, "seconds": round(seconds, 2),
            "examples": examples, **{k: result.get(k) for k in keep}}


def best_so_far(trials: Sequence[Mapping[str, Any]], fitness: str, better: Callable[[float, float], bool]
                ) -> list[dict[str, Any]]:
    """After each trial: cumulative trial-epochs and the best individual so far (by fitness, on validation)."""
    curve, best, spent = [], None, 0
    for t in trials:
        spent += int(t["trial_epochs"])
        if t.get(fitness) is not None and (best is None or better(t[fitness], best[fitness])):
            best = t
        if best is not None:
            curve.append({"trial_epochs": spent, "val_f1": best["val_f1"], "dev_f1": best["dev_f1"],
                          "label": best["label"]})
    return curve


def arm_record(arm: str, ctx: Context, trials: list[dict[str, Any]], wall: float, **extra: Any) -> dict[str, Any]:
    curve = best_so_far(trials, ctx.fitness, ctx.better)
    final = curve[-1] if curve else {}
    return {
        "arm": arm, "seed": ctx.seed, "setting": ctx.setting.name, "fitness": ctx.fitness,
        "budget_trial_epochs": ctx.budget,
        "trial_epochs": sum(int(t["trial_epochs"]) for t in trials),
        "examples": sum(int(t["examples"]) for t in trials),
        # examples x trainable parameters: a proxy for training FLOPs across readers of different size
        "examples_x_params": sum(int(t["examples"]) * int(t.get("total_params") or 0) for t in trials),
        "wall_seconds": round(wall, 1),
        "best": {k: final.get(k) for k in ("label", "val_f1", "dev_f1")},
        "curve": curve, "trials": trials, **extra,
    }


# --- arms ----------------------------------------------------------------------------------
def _run(ctx: Context, graph: Graph, *, indiv_id: int, epochs: int, seed: int, label: str,
         restore: str | None = None, parent: int | None = None, on_epoch: Any = None,
         patience: int | None = None) -> tuple[dict[str, Any], str]:
    """One real trial (``run_trial``); returns its record and where it published."""
    from ga_squad.reader.training import run_trial
    from ga_squad.store.contract import TrialParams

    save_dir = ctx.scratch / f"{label.replace(':', '_').replace(' ', '_')}-{indiv_id:04d}"
    params = TrialParams(indiv_id=indiv_id, parent_id=parent, graph=graph, restore_dir=restore,
                         save_dir=str(save_dir), shared_ids=graph.weight_ids() if restore else None,
                         mutation=label, seed=seed, fitness=ctx.setting.evolution.fitness_spec)
    train = dataclasses.replace(ctx.train, epochs=epochs,
                                **({} if patience is None else {"patience": patience}))
    t0 = time.perf_counter()
    result = run_trial(params, ctx.data, ctx.model, train, on_epoch=on_epoch,
                       embedding_store=ctx.scratch / "embeddings")
    seconds = time.perf_counter() - t0
    record = trial_record(result, arm_epochs=int(result["epochs"]), label=label, parent=parent, seconds=seconds,
                          examples=int(result["epochs"]) * len(ctx.data.train))
    return record, str(save_dir)


def arm_b(ctx: Context) -> dict[str, Any]:
    """Every preset alone for the whole budget; the best by the fitness on validation is B.

    ``ctx.b_presets`` (``--b-presets``) trains only those: on report seeds,
    the preset that the tuning seeds found best (docs/protocol.md), since
    training presets that lost there by 10+ F1 would cost an hour a seed.
    """
    t0 = time.perf_counter()
    runs = []
    for i, name in enumerate(ctx.b_presets or ctx.setting.presets()):
        # One file per preset as soon as it is trained: an interrupted arm B resumes preset by preset.
        part = ctx.out / f"B-seed{ctx.seed}.{name}.part.json"
        if part.exists():
            runs.append(json.loads(part.read_text(encoding="utf-8")))
            logger.info("B seed %d: %s read from %s", ctx.seed, name, part)
            continue
        curve: list[dict[str, float]] = []
        record, _ = _run(ctx, preset(name), indiv_id=i, epochs=ctx.budget, seed=ctx.seed, label=name,
                         patience=ctx.budget, on_epoch=lambda e, m: curve.append({k: float(v) for k, v in m.items()}))
        record["val_curve"] = curve
        write_json_atomic(part, record, indent=1)
        runs.append(record)
        logger.info("B seed %d: %s val F1 %.2f loss %.4f (epoch %s) dev F1 %.2f, %.0f s", ctx.seed, name,
                    record["val_f1"], record["val_loss"], record["best_epoch"], record["dev_f1"], record["seconds"])
    best = runs[0]
    for r in runs[1:]:
        if ctx.better(r[ctx.fitness], best[ctx.fitness]):
            best = r
    # B's compute is one preset's training; the others are what finding the best preset cost.
    out = arm_record("B", ctx, [best], time.perf_counter() - t0, presets=runs, chosen=best["label"])
    out["wall_seconds"] = best["seconds"]
    out["curve"] = [{"trial_epochs": i + 1, "val_f1": c["val_f1"], "dev_f1": None, "label": best["label"]}
                    for i, c in enumerate(best["val_curve"])]
    out["curve"][-1]["dev_f1"] = best["dev_f1"]
    return out


class RandomParentEvolution(SeededEvolution):
    """Arm C: the same cold starts, then a parent drawn uniformly from every reported individual."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._archive: list[Any] = []

    def add_reported(self, individual: Any) -> Any:
        self._archive.append(individual)
        return super().add_reported(individual)

    def select_parent(self) -> Any:
        return self.rng.choice(self._archive) if self._archive else None


@dataclass(frozen=True)
class RandomParentSpace(SearchSpace):
    """The search space of arm A with arm C's parent rule."""

    def strategy(self, config: EvolutionConfig) -> Callable[[int], SeededEvolution]:
        def build(stream: int) -> SeededEvolution:
            return RandomParentEvolution(config, self.seeds(), stream=stream, mutator=self.mutator(config),
                                         mutate=self.mutate_presets)
        return build


def _search_arm(arm: str, ctx: Context, space: SearchSpace) -> dict[str, Any]:
    from ga_squad.sim.local_search import LocalSearchConfig, run_local_search

    root = ctx.scratch / f"search-{arm}"
    result = run_local_search(LocalSearchConfig(
        save_dir_root=str(root), experiment_id=f"{arm}-s{ctx.seed}",
        evolution=dataclasses.replace(ctx.setting.evolution, seed=ctx.seed), max_trials=ctx.setting.trials,
        data=ctx.data_cfg, model=ctx.model, train=ctx.train, space=space), data=ctx.data)
    from ga_squad.store.journal import read_events, replay

    records = replay(read_events(result.journal_path))
    trials = []
    for t in result.trials:
        if not t.succeeded:
            continue
        res = records[t.indiv_id].result or {}
        trials.append(trial_record(res, arm_epochs=t.epochs, label=f"{t.indiv_id}:{t.mutation}",
                                   parent=t.parent_id, seconds=t.seconds, examples=t.epochs * len(ctx.data.train)))
    return arm_record(arm, ctx, trials, result.wall_seconds)


def arm_a(ctx: Context) -> dict[str, Any]:
    return _search_arm("A", ctx, ctx.setting.space)


def arm_c(ctx: Context) -> dict[str, Any]:
    space = RandomParentSpace(**{f.name: getattr(ctx.setting.space, f.name)
                                 for f in dataclasses.fields(SearchSpace)})
    return _search_arm("C", ctx, space)


def halving_schedule(budget: int, eta: int = 2) -> list[tuple[int, int]]:
    """Rungs ``(candidates, cumulative epochs)`` of successive halving within ``budget`` trial-epochs.

    The most candidates (a power of ``eta``) whose geometric rungs fit; the
    last survivor's rung is stretched to spend what is left, so the arm uses
    exactly ``budget``.

    Raises:
        ValueError: if the budget cannot train one candidate for one epoch.
    """
    def rungs(n0: int) -> list[tuple[int, int]]:
        out, n, epochs = [], n0, 1
        while n >= 1:
            out.append((n, epochs))
            n, epochs = n // eta, epochs * eta
        return out

    def cost(schedule: list[tuple[int, int]]) -> int:
        prev, total = 0, 0
        for n, e in schedule:
            total, prev = total + n * (e - prev), e
        return total

    if budget < 1:
        raise ValueError(f"budget {budget} cannot train one candidate for one epoch")
    n0 = 1
    while cost(rungs(n0 * eta)) <= budget:
        n0 *= eta
    schedule = rungs(n0)
    schedule[-1] = (1, schedule[-1][1] + budget - cost(schedule))
    return schedule


def arm_d(ctx: Context) -> dict[str, Any]:
    """Successive halving over cold starts; promotions resume their own checkpoint (no sharing across readers)."""
    schedule = halving_schedule(ctx.budget)
    sampler = SeededEvolution(dataclasses.replace(ctx.setting.evolution, seed=ctx.seed), ctx.setting.space.seeds(),
                              mutator=ctx.setting.space.mutator(ctx.setting.evolution),
                              mutate=ctx.setting.space.mutate_presets)
    candidates = [(k, sampler.propose_initial()) for k in range(schedule[0][0])]
    alive = {k: (m.graph, None, None, f"{m.operator}{':' + m.detail if m.detail else ''}") for k, m in candidates}
    t0 = time.perf_counter()
    trials: list[dict[str, Any]] = []
    done_epochs, next_id = 0, 0
    for rung, (_, epochs) in enumerate(schedule):
        scored = []
        for k in sorted(alive):
            graph, restore, parent, label = alive[k]
            # Every epoch of the rung is trained (no early stop, as for B): the survivor's long last rung
            # must spend the budget, not hand it back after two epochs without a better validation loss.
            record, saved = _run(ctx, graph, indiv_id=next_id, epochs=epochs - done_epochs,
                                 seed=ctx.seed * 1000 + k, label=f"c{k}:{label}", restore=restore, parent=parent,
                                 patience=ctx.budget)
            record["rung"] = rung
            trials.append(record)
            scored.append((k, record, saved, next_id))
            next_id += 1
        done_epochs = epochs
        if rung + 1 < len(schedule):
            keep = schedule[rung + 1][0]
            fitness = ctx.setting.evolution.fitness_spec
            ranked = sorted(scored, key=lambda s: fitness.sort_key(s[1][ctx.fitness]))[:keep]
            alive = {k: (alive[k][0], saved, iid, alive[k][3]) for k, _, saved, iid in ranked}
    return arm_record("D", ctx, trials, time.perf_counter() - t0, schedule=schedule)


ARM_RUNNERS: dict[str, Callable[[Context], dict[str, Any]]] = {"A": arm_a, "B": arm_b, "C": arm_c, "D": arm_d}


# --- running and summarising -----------------------------------------------------------------
def record_path(out: Path, setting: str, arm: str, seed: int) -> Path:
    return out / setting / f"{arm}-seed{seed}.json"


def run_seed(setting: Setting, seed: int, arms: Iterable[str], out: Path, threads: int, keep: bool,
             b_presets: Sequence[str] = ()) -> None:
    from ga_squad.reader.data_cache import load_dataset

    todo = [a for a in arms if not record_path(out, setting.name, a, seed).exists()]
    if not todo:
        print(f"seed {seed}: every asked arm already has a record", flush=True)
        return
    cfg = setting.trial_config()
    data = load_dataset(cfg.data, cfg.cache_dir)
    model = cfg.model
    if data.embeddings is not None:
        model = dataclasses.replace(model, word_dim=int(data.embeddings.shape[1]))
    scratch = Path(tempfile.mkdtemp(prefix=f"ga-svb-{setting.name}-{seed}-"))
    (out / setting.name).mkdir(parents=True, exist_ok=True)
    ctx = Context(setting, seed, data, model, cfg.train, cfg.data, scratch, out / setting.name, tuple(b_presets))
    try:
        for arm in todo:
            t0 = time.perf_counter()
            record = ARM_RUNNERS[arm](ctx)
            record["command"] = "python benchmarks/search_vs_baselines.py " + " ".join(map(shlex.quote, sys.argv[1:]))
            record["date"] = time.strftime("%Y-%m-%d")
            record["threads"] = threads
            path = record_path(out, setting.name, arm, seed)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_json_atomic(path, record, indent=1)
            for part in path.parent.glob(f"{arm}-seed{seed}.*.part.json"):  # now inside the record
                part.unlink()
            best = record["best"]
            print(f"seed {seed} arm {arm}: best {best['label']} val F1 {best['val_f1']:.2f} dev F1 "
                  f"{best['dev_f1']:.2f}; {record['trial_epochs']} trial-epochs, {record['wall_seconds']:.0f} s "
                  f"(arm took {time.perf_counter() - t0:.0f} s) -> {path}", flush=True)
    finally:
        if keep:
            print(f"scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)


def load_records(out: Path, setting: str) -> dict[str, dict[int, dict[str, Any]]]:
    by_arm: dict[str, dict[int, dict[str, Any]]] = {}
    for path in sorted((out / setting).glob("*-seed*[0-9].json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        by_arm.setdefault(record["arm"], {})[int(record["seed"])] = record
    return by_arm


def summarize(out: Path, setting: str) -> dict[str, Any]:
    """Per-arm figures by seed and paired gaps of A against each other arm, tuning and report seeds apart."""
    from ga_squad.analysis.paired import paired_gap

    records = load_records(out, setting)
    summary: dict[str, Any] = {"setting": setting, "tuning_seeds": list(TUNING_SEEDS.get(setting, ())),
                               "report_seeds": list(REPORT_SEEDS.get(setting, ())), "arms": {}, "gaps": {}}
    for arm, by_seed in sorted(records.items()):
        summary["arms"][arm] = {str(s): {"val_f1": r["best"]["val_f1"], "dev_f1": r["best"]["dev_f1"],
                                         "label": r["best"]["label"], "wall_seconds": r["wall_seconds"],
                                         "trial_epochs": r["trial_epochs"], "examples_x_params": r["examples_x_params"]}
                                for s, r in sorted(by_seed.items())}
    report, extra = REPORT_SEEDS.get(setting, ()), EXTRA_REPORT_SEEDS.get(setting, ())
    # (name, seeds, whether the kind exists only for arms that have an extra seed)
    kinds = [("tuning", TUNING_SEEDS.get(setting, ()), False), ("report", report, False)]
    if extra:
        kinds += [("extra report", extra, True), ("report + extra", (*report, *extra), True)]
    summary["extra_report_seeds"] = list(extra)
    for kind, seeds, needs_extra in kinds:
        if "A" not in records:
            break
        for other in ("B", "C", "D"):
            if other not in records:
                continue
            for metric in ("dev_f1", "val_f1"):
                a = {s: r["best"][metric] for s, r in records["A"].items() if s in seeds}
                b = {s: r["best"][metric] for s, r in records[other].items() if s in seeds}
                if needs_extra and not set(b) & set(extra):
                    continue  # this arm has no extra seed: its gap is the report seeds' figure, once
                if set(a) & set(b):
                    summary["gaps"][f"{kind}: A-{other} {metric}"] = paired_gap(a, b).to_dict()
    return summary


def plot(out: Path, setting: str, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = load_records(out, setting)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for arm, by_seed in sorted(records.items()):
        curves = [r["curve"] for r in by_seed.values() if r["curve"]]
        xs = sorted({p["trial_epochs"] for c in curves for p in c})

        def at(curve: list[dict[str, Any]], x: int) -> float | None:
            seen = [p["val_f1"] for p in curve if p["trial_epochs"] <= x]
            return seen[-1] if seen else None

        rows = [[at(c, x) for x in xs] for c in curves]
        lo = [min(v for v in col if v is not None) for col in zip(*rows)]
        hi = [max(v for v in col if v is not None) for col in zip(*rows)]
        mid = [sum(v for v in col if v is not None) / sum(v is not None for v in col) for col in zip(*rows)]
        line, = ax.plot(xs, mid, label=f"{arm} ({len(curves)} seeds)")
        ax.fill_between(xs, lo, hi, alpha=0.2, color=line.get_color())
        devs = [r["best"]["dev_f1"] for r in by_seed.values()]
        ax.scatter([max(xs)] * len(devs), devs, marker="x", color=line.get_color())
    ax.set_xlabel("trial-epochs spent")
    ax.set_ylabel("validation F1 of the best so far (by fitness); x: dev F1 at the end")
    ax.set_title(f"search vs baselines ({setting}): mean over seeds, band = min-max")
    ax.legend()
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", default=str(REPO_ROOT / "config.yml"), help="the configuration under test")
    p.add_argument("--setting", default="sample", help="results folder name (sample = config.yml)")
    p.add_argument("--seeds", type=int, nargs="+", default=[])
    p.add_argument("--arms", nargs="+", choices=ARMS, default=list(ARMS))
    p.add_argument("--threads", type=int, default=1, help="TensorFlow intra-op threads")
    p.add_argument("--out", default=str(RESULTS))
    p.add_argument("--keep", action="store_true", help="keep the scratch checkpoints")
    p.add_argument("--summary", action="store_true", help="only aggregate existing records")
    p.add_argument("--b-presets", nargs="+", default=[], metavar="PRESET",
                   help="arm B trains only these presets (report seeds: the best preset on the tuning seeds)")
    args = p.parse_args(argv)
    unknown = set(args.b_presets) - set(PRESETS)
    if unknown:
        p.error(f"--b-presets: unknown preset(s) {sorted(unknown)}; known: {sorted(PRESETS)}")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    out = Path(args.out)
    if args.seeds:
        from ga_squad.reader.training import configure_tensorflow

        configure_tensorflow(args.threads, 1, deterministic=True)
        setting = Setting.load(args.setting, Path(args.config))
        for seed in args.seeds:
            run_seed(setting, seed, args.arms, out, args.threads, args.keep, args.b_presets)
    summary = summarize(out, args.setting)
    if summary["arms"]:
        plot(out, args.setting, out / f"{args.setting}.png")
        write_result(f"search_vs_baselines_{args.setting}", summary, {"config": str(args.config), "setting": args.setting},
                     script="search_vs_baselines.py", out_dir=out.parent)
    for arm, by_seed in summary["arms"].items():
        cells = ", ".join(f"{s}: {v['dev_f1']:.2f} ({v['label']})" for s, v in by_seed.items())
        print(f"{arm}: dev F1 by seed {cells}")
    for name, gap in summary["gaps"].items():
        print(f"{name}: {gap['mean']:+.2f} [{gap['ci95'][0]:+.2f}, {gap['ci95'][1]:+.2f}] over seeds {gap['seeds']}")


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main()

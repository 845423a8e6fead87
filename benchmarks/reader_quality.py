"""How good are the readers the search space can express? Presets, baselines and a search's best.

On the shared data (the 11,877 training questions of
``../shared/data/squad/train.json``, of which a validation split of whole
articles is held out; dev questions 2,001 to 6,000 of ``dev.json``, which no
decision has looked at (``docs/protocol.md``); the 50-d GloVe subset,
``--size small``) it:

1. scores two non-neural baselines with the official metric
   (``benchmarks/reader_baselines.py``: the sliding window of Rajpurkar et al.
   2016 and the best-overlap sentence);
2. trains each preset graph (``base``, ``drqa``, ``bidaf``;
   :mod:`ga_squad.search.presets`) from scratch for ``--epochs`` epochs and
   records validation loss/F1/EM after every epoch, training examples/s (the
   first epoch includes tracing the TensorFlow graph) and the parameter count
   (all, and trained: the fixed GloVe table is most of the former); the
   epoch kept is the best by ``--select`` on validation (validation loss by
   default, as ``config.yml``'s search ranks), and dev is scored once, on
   the kept weights: dev never chooses anything;
3. with ``--journal PATH``, takes the best reported graph of a recorded
   search (its ``lineage.jsonl``) and retrains it from scratch the same way;
4. with ``--graph NAME=FILE`` (repeatable), retrains any graph written in
   the encoding (a JSON file, as ``Graph.to_json`` writes it): a single
   edit of a preset, say, to see what that edit is worth over 8 epochs.

Every reader's record is written to ``<out>/readers/<name>.json`` as soon as
each epoch ends, and a reader whose record is complete (its epochs and its
one dev score) is not trained again: re-running with ``--presets drqa`` only
trains what is missing (an interrupted reader starts again: its kept weights
were in memory). ``<out>/reader_quality.json`` gathers everything;
``reader_quality.png`` plots validation F1 per epoch, one line per reader,
the kept epoch's dev F1 as a marker, the baselines (scored on the same dev
questions) as horizontal lines.

Usage::

    .venv/bin/python benchmarks/reader_quality.py --quick                 # bundled sample, minutes
    .venv/bin/python benchmarks/reader_quality.py --presets drqa,base --epochs 2
    .venv/bin/python benchmarks/reader_quality.py --journal runs/<exp>/lineage.jsonl
    .venv/bin/python benchmarks/reader_quality.py --presets '' --seed 1 \
        --graph drqa_qmatch=results/reader_quality/graphs/drqa_qmatch.json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from collections.abc import Mapping
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

from benchmarks.bench_json import command_line, result_path, write_result  # noqa: E402

logger = logging.getLogger("reader_quality")
SHARED = REPO_ROOT.parent / "shared" / "data"


@dataclass(frozen=True)
class BenchConfig:
    """What to run.

    Attributes:
        train, dev, glove: Data files.
        dev_skip: Dev questions left out first (2,000 on the shared data).
        dev_limit: Dev questions scored after those (4,000: questions 2,001-6,000).
        select: The validation metric the kept epoch is best by (``val_loss`` or ``val_f1``).
        results_dir: Where the results JSON goes (None: the repository's ``results/``).
        train_limit: First N training questions (None: all).
        size: Model size preset.
        epochs: Epochs per reader.
        presets: Preset names to train.
        journal: A search journal whose best graph is retrained, or None.
        journal_name: The reader name its record gets (one per search, so that
            two searches' graphs stand side by side).
        graphs: (reader name, graph JSON file) pairs to retrain.
        out: Output folder.
        baselines: Whether to score the baselines.
        batch_size: Training batch size.
        threads: TensorFlow intra-op threads.
        seed: Initialisation and data-order seed (other than 0: records named
            ``<reader>_seed<N>``, beside the seed-0 ones).
        force: Retrain readers whose records are complete.
    """

    train: str
    dev: str
    glove: str | None
    dev_limit: int | None
    train_limit: int | None
    size: str
    epochs: int
    presets: tuple[str, ...]
    journal: str | None
    out: str
    journal_name: str = "search_best"
    graphs: tuple[tuple[str, str], ...] = ()
    baselines: bool = True
    batch_size: int = 32
    threads: int = 1
    seed: int = 0
    force: bool = False
    quick: bool = False
    dev_skip: int = 0
    select: str = "val_loss"
    results_dir: str | None = None


def parse_args(argv: list[str] | None = None) -> BenchConfig:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="bundled sample, tiny model, 2 epochs")
    p.add_argument("--presets", default="base,drqa,bidaf", help="comma-separated preset names ('' for none)")
    p.add_argument("--epochs", type=int, help="epochs per reader (default 8; 2 with --quick)")
    p.add_argument("--journal", help="lineage.jsonl of a recorded search: retrain its best graph")
    p.add_argument("--journal-name", default="search_best", help="reader name of the journal's graph")
    p.add_argument("--graph", action="append", default=[], metavar="NAME=FILE",
                   help="retrain the graph in FILE (Graph JSON) as reader NAME; repeatable")
    p.add_argument("--size", help="model size (default small; tiny with --quick)")
    p.add_argument("--train", help="SQuAD training file")
    p.add_argument("--dev", help="SQuAD dev file")
    p.add_argument("--glove", help="GloVe file ('' for none)")
    p.add_argument("--dev-skip", type=int, help="dev questions left out first (default 2000; 0 with --quick)")
    p.add_argument("--dev-limit", type=int, help="dev questions scored after those (default 4000; all with --quick)")
    p.add_argument("--select", choices=("val_loss", "val_f1"), default="val_loss",
                   help="the validation metric the kept epoch is best by (dev is scored once, on it)")
    p.add_argument("--train-limit", type=int)
    p.add_argument("--no-baselines", action="store_true")
    p.add_argument("--out", help="output folder (default results/reader_quality[_quick])")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="retrain readers already recorded")
    a = p.parse_args(argv)
    data = REPO_ROOT / "data"
    if a.quick:
        defaults = (str(data / "squad_train_sample.json"), str(data / "squad_dev_sample.json"),
                    str(data / "glove.sample.50d.txt"), 0, None, "tiny", 2, "results/reader_quality_quick")
    else:
        defaults = (str(SHARED / "squad" / "train.json"), str(SHARED / "squad" / "dev.json"),
                    str(SHARED / "glove" / "glove.6B.50d.subset.txt"), 2000, 4000, "small", 8,
                    "results/reader_quality")
    train, dev, glove, dev_skip, dev_limit, size, epochs, out = defaults
    glove = a.glove if a.glove is not None else glove
    return BenchConfig(
        train=a.train or train, dev=a.dev or dev, glove=glove or None,
        dev_limit=a.dev_limit if a.dev_limit is not None else dev_limit, train_limit=a.train_limit,
        size=a.size or size, epochs=a.epochs if a.epochs is not None else epochs,
        presets=tuple(n for n in a.presets.split(",") if n.strip()), journal=a.journal,
        journal_name=a.journal_name, graphs=tuple(_named_graph(p, spec) for spec in a.graph),
        out=str(REPO_ROOT / (a.out or out)), baselines=not a.no_baselines, batch_size=a.batch_size,
        threads=a.threads, seed=a.seed, force=a.force, quick=a.quick,
        dev_skip=a.dev_skip if a.dev_skip is not None else dev_skip, select=a.select)


def _named_graph(parser: argparse.ArgumentParser, spec: str) -> tuple[str, str]:
    """``NAME=FILE`` of ``--graph``, checked: a clear message for a missing ``=`` or file."""
    name, sep, path = spec.partition("=")
    if not sep or not name.strip() or not path:
        parser.error(f"--graph needs NAME=FILE, got {spec!r}")
    if not Path(path).is_file():
        parser.error(f"--graph {name}: no such file {path}")
    return name.strip(), path


def load_graph(path: str):
    """A graph JSON file, validated; a malformed one exits with a message naming the file."""
    from ga_squad.search.graph import Graph

    try:
        return Graph.from_json(Path(path).read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise SystemExit(f"error: {path} is not a valid reader graph: {exc}") from exc


def best_of_journal(path: str):
    """The best graph of a recorded search: its best individual, as ``predict`` and ``report`` name it.

    :func:`ga_squad.store.best.best_individual`: by the fitness and
    direction the journal records (a search with ``fitness: val_loss`` ranks
    by the lowest loss, which its ``value`` holds), among individuals with a
    published checkpoint; a journal kept without its checkpoints is ranked by
    fitness alone (the graph is retrained from scratch here).
    """
    from ga_squad.store.best import FitnessUnknown, NoBestIndividual, best_individual

    try:
        try:
            best = best_individual(path)
        except NoBestIndividual:
            best = best_individual(path, published_only=False)
    except (NoBestIndividual, FitnessUnknown) as exc:
        raise SystemExit(f"error: journal {path}: {exc}") from None
    result = best.record.result
    search_f1 = float(result.get("val_f1", result.get("default")))
    logger.info("best of %s: individual %d by %s %.4f, validation F1 %.2f in the search", path, best.indiv_id,
                best.fitness.describe(), best.value, search_f1)
    return best.record.graph, {"indiv_id": best.indiv_id, "search_f1": search_f1}


def _record_path(cfg: BenchConfig, name: str) -> Path:
    return Path(cfg.out) / "readers" / f"{name}.json"


#: Records of an earlier protocol (dev F1 per epoch, the best picked on dev) are not read.
PROTOCOL = 2


def _complete(record: Mapping[str, Any], cfg: BenchConfig) -> bool:
    return (record.get("protocol") == PROTOCOL and record.get("size") == cfg.size and record.get("dev") is not None
            and len(record.get("epochs", [])) >= cfg.epochs and record.get("select") == cfg.select)


def kept_epoch(epochs: list[Mapping[str, Any]], select: str) -> Mapping[str, Any]:
    """The epoch best by ``select`` on validation (the earliest among ties), as a trial keeps it."""
    if select == "val_loss":
        return min(epochs, key=lambda e: (e["val_loss"], e["epoch"]))
    return min(epochs, key=lambda e: (-e["val_f1"], e["epoch"]))


def train_reader(cfg: BenchConfig, name: str, graph, data, extra: dict[str, Any]) -> dict[str, Any]:
    """Train ``graph`` from scratch for ``cfg.epochs``; keep the epoch best on validation; score dev once."""
    import keras

    from ga_squad.files import write_json_atomic
    from ga_squad.reader.config import ModelConfig, TrainConfig
    from ga_squad.reader.model import build_model, count_params, weights_by_hash
    from ga_squad.reader.training import evaluate_split, make_steps, train_epoch

    path = _record_path(cfg, name)
    if path.exists() and not cfg.force:
        done = json.loads(path.read_text(encoding="utf-8"))
        if _complete(done, cfg):
            logger.info("%s: already recorded (%d epochs, dev scored), skipped", name, len(done["epochs"]))
            return done
    if len(data.val) == 0:
        raise SystemExit("error: no validation split (val_fraction 0): the kept epoch must be chosen on validation")
    model_cfg = ModelConfig.preset(cfg.size)
    if data.embeddings is not None:
        model_cfg = replace(model_cfg, word_dim=int(data.embeddings.shape[1]))
    train_cfg = TrainConfig(batch_size=cfg.batch_size, seed=cfg.seed)
    keras.utils.set_random_seed(cfg.seed)
    model = build_model(graph, model_cfg, len(data.word_vocab), len(data.char_vocab),
                        embeddings=data.embeddings, data_features=data.train.feature_names)
    steps = make_steps(model, train_cfg)
    record: dict[str, Any] = {
        "protocol": PROTOCOL, "name": name, "graph": graph.to_dict(), "size": cfg.size, "select": cfg.select,
        "params": count_params(weights_by_hash(model)),
        "trainable_params": int(sum(int(v.numpy().size) for v in model.trainable_variables)),
        "epochs": [], "dev": None, "command": command_line("reader_quality.py"), **extra,
    }
    kept_weights = None
    for epoch in range(1, cfg.epochs + 1):
        t0 = time.perf_counter()
        loss, seen = train_epoch(steps, data.train, cfg.batch_size, seed=cfg.seed * 1000 + epoch)
        train_s = time.perf_counter() - t0
        val = evaluate_split(steps, data.val, train_cfg.eval_batch_size, train_cfg.max_answer_len)
        record["epochs"].append({"epoch": epoch, "val_f1": val.f1, "val_em": val.em, "val_loss": val.loss,
                                 "train_loss": loss, "train_seconds": train_s,
                                 "examples_per_s": seen / max(train_s, 1e-9)})
        if kept_epoch(record["epochs"], cfg.select)["epoch"] == epoch:
            kept_weights = model.get_weights()
        print(f"{name:>12} epoch {epoch}: validation loss {val.loss:.3f}  F1 {val.f1:6.2f}  EM {val.em:6.2f}  "
              f"train loss {loss:.3f}  {seen / train_s:7.1f} ex/s", flush=True)
        write_json_atomic(path, record)
    kept = kept_epoch(record["epochs"], cfg.select)
    model.set_weights(kept_weights)
    dev = evaluate_split(steps, data.dev, train_cfg.eval_batch_size, train_cfg.max_answer_len)
    record["dev"] = {"epoch": kept["epoch"], "f1": dev.f1, "em": dev.em}
    print(f"{name:>12} kept epoch {kept['epoch']} (best {cfg.select} on validation): dev F1 {dev.f1:6.2f}  "
          f"EM {dev.em:6.2f}", flush=True)
    write_json_atomic(path, record)
    return record


def table_figures(summary: Mapping[str, Any]) -> dict[str, Any]:
    """What the docs' table quotes: per reader its validation curve, kept epoch, its one dev score, speed, size."""
    readers = {name: {"val_f1": [e["val_f1"] for e in rec["epochs"]], "val_loss": [e["val_loss"] for e in rec["epochs"]],
                      "kept_epoch": rec["dev"]["epoch"], "f1": rec["dev"]["f1"], "em": rec["dev"]["em"],
                      "examples_per_s": sum(e["examples_per_s"] for e in rec["epochs"]) / len(rec["epochs"]),
                      "params": rec["params"], "trainable_params": rec["trainable_params"]}
               for name, rec in summary["readers"].items() if rec.get("dev")}
    return {"readers": readers, "baselines": dict(summary["baselines"]), "select": summary["select"],
            "train_questions": summary["data"]["train_questions"], "dev_questions": summary["data"]["dev_questions"],
            "dev_skip": summary["data"]["dev_skip"]}


def seed_comparison(readers: Mapping[str, Mapping[str, Any]], reference: str = "drqa") -> dict[str, Any]:
    """Each graph's dev F1 per seed (of its kept epoch), its mean, and its mean paired gap to ``reference``.

    Records ``<graph>_seed<N>`` are seed N of ``<graph>`` (no suffix: seed 0).
    Readers trained with one seed share its data order, so the gap is taken
    seed by seed over the seeds both have (None without a common seed): one
    seed's spread is as large as the edits measured here, and an unpaired
    best-of-one comparison would reward whichever seed happened to run.
    """
    best: dict[str, dict[int, float]] = {}
    for name, reader in readers.items():
        graph, _, tail = name.rpartition("_seed")
        if not (graph and tail.isdigit()):
            graph, tail = name, "0"
        best.setdefault(graph, {})[int(tail)] = reader["f1"]
    ref = best.get(reference, {})
    out: dict[str, Any] = {}
    for graph, per_seed in sorted(best.items()):
        common = sorted(set(per_seed) & set(ref))
        out[graph] = {
            "seeds": sorted(per_seed), "dev_f1": [per_seed[k] for k in sorted(per_seed)],
            "mean_f1": sum(per_seed.values()) / len(per_seed),
            "paired_seeds": common,
            "mean_gap": sum(per_seed[k] - ref[k] for k in common) / len(common) if common else None,
        }
    return out


def carry_over(figures: dict[str, Any], previous: Path, size: str) -> dict[str, str]:
    """Keep the readers of the committed results file that this run did not train.

    The per-reader records live in the (untracked) output folder, so a fresh
    clone that retrains one reader would otherwise drop the others from the
    committed figures. Only readers measured on the same data and size are
    kept; the returned mapping (reader -> the command that measured it) goes
    into the results file, so the table says where each figure came from.
    """
    if not previous.is_file():
        return {}
    old = json.loads(previous.read_text(encoding="utf-8"))
    same = (old.get("config", {}).get("size") == size
            and old["figures"].get("select") == figures["select"]
            and old["figures"].get("dev_skip") == figures["dev_skip"]
            and old["figures"].get("dev_questions") == figures["dev_questions"]
            and old["figures"].get("train_questions") == figures["train_questions"])
    if not same:
        return {}
    earlier = dict(old["figures"].get("readers_from_earlier_runs", {}))
    carried = {}
    for reader, record in old["figures"]["readers"].items():
        if reader not in figures["readers"]:
            figures["readers"][reader] = record
            carried[reader] = earlier.get(reader, f"{old['command']} ({old['date']})")
    return carried


def plot(summary: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, rec in summary["readers"].items():
        xs = [e["epoch"] for e in rec["epochs"]]
        line, = ax.plot(xs, [e["val_f1"] for e in rec["epochs"]], marker=".",
                        label=f"{name} ({rec['trainable_params']:,} trained params)")
        if rec.get("dev"):
            ax.plot([rec["dev"]["epoch"]], [rec["dev"]["f1"]], marker="*", markersize=12, color=line.get_color())
    for i, (name, base) in enumerate(summary.get("baselines", {}).items()):
        ax.axhline(base["f1"], linestyle="--", color=f"C{7 + i}", label=f"{name} baseline")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("epoch")
    ax.set_ylabel("F1 (official metric)")
    d = summary["data"]
    ax.set_title(f"Validation F1 per epoch; star: dev F1 of the kept epoch (dev questions {d['dev_skip'] + 1:,}-"
                 f"{d['dev_skip'] + d['dev_questions']:,}), size {summary['size']}", fontsize=9)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main(cfg: BenchConfig) -> dict[str, Any]:
    from ga_squad.files import write_json_atomic
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(cfg.threads, 1, deterministic=True)
    from benchmarks.reader_baselines import score_baselines

    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.dataset import DataConfig
    from ga_squad.reader.squad import read_squad
    from ga_squad.search.presets import preset

    # The readers first: a bad journal or graph file fails before the data and baselines load.
    # A seed other than 0 gets its own records (``drqa_seed1``): the seed-to-seed spread of one reader.
    suffix = f"_seed{cfg.seed}" if cfg.seed else ""
    jobs = [(name + suffix, preset(name), {"preset": name, "seed": cfg.seed}) for name in cfg.presets]
    if cfg.journal:
        graph, extra = best_of_journal(cfg.journal)
        jobs.append((cfg.journal_name + suffix, graph, {"journal": str(cfg.journal), **extra}))
    for name, path in cfg.graphs:
        jobs.append((name + suffix, load_graph(path), {"graph_file": path, "seed": cfg.seed}))
    out = Path(cfg.out)
    out.mkdir(parents=True, exist_ok=True)
    summary_path = out / "reader_quality.json"
    old = json.loads(summary_path.read_text(encoding="utf-8")) if summary_path.exists() else {}
    same_dev = old.get("dev_range") == [cfg.dev_skip, cfg.dev_limit]
    summary: dict[str, Any] = {"size": cfg.size, "epochs": cfg.epochs, "select": cfg.select, "readers": {},
                               "dev_range": [cfg.dev_skip, cfg.dev_limit],
                               "baselines": old.get("baselines", {}) if same_dev and not cfg.force else {}}
    if cfg.baselines and not summary["baselines"]:
        t0 = time.perf_counter()
        examples = read_squad(cfg.dev).examples[cfg.dev_skip:]
        summary["baselines"] = score_baselines(examples[:cfg.dev_limit] if cfg.dev_limit is not None else examples)
        for name, b in summary["baselines"].items():
            print(f"{name:>14} baseline: dev F1 {b['f1']:6.2f}  EM {b['em']:6.2f}  "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    data = load_dataset(DataConfig(cfg.train, cfg.dev, cfg.glove, train_limit=cfg.train_limit,
                                   dev_limit=cfg.dev_limit, dev_skip=cfg.dev_skip), REPO_ROOT / "runs" / "cache")
    summary["data"] = {"train": cfg.train, "dev": cfg.dev, "glove": cfg.glove, "dev_skip": cfg.dev_skip,
                       "train_questions": len(data.train), "val_questions": len(data.val),
                       "dev_questions": len(data.dev)}
    for name, graph, extra in jobs:
        train_reader(cfg, name, graph, data, extra)
    # Gather every recorded reader (also those of earlier runs into this folder).
    for path in sorted((out / "readers").glob("*.json")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        if _complete(rec, cfg):
            summary["readers"][rec["name"]] = rec
    write_json_atomic(summary_path, summary)
    figures = table_figures(summary)
    name = "reader_quality_quick" if cfg.quick else "reader_quality"
    this_run = command_line("reader_quality.py")
    earlier = {n: r["command"] for n, r in summary["readers"].items()
               if r.get("command", this_run) != this_run and n in figures["readers"]}
    figures["readers_from_earlier_runs"] = {**earlier, **carry_over(figures, result_path(name, cfg.results_dir), cfg.size)}
    figures["by_seed"] = seed_comparison(figures["readers"])
    write_result(name, figures,
                 {"size": cfg.size, "epochs": cfg.epochs, "presets": list(cfg.presets), "select": cfg.select,
                  "dev_skip": cfg.dev_skip, "train_questions": summary["data"]["train_questions"],
                  "dev_questions": summary["data"]["dev_questions"]}, out_dir=cfg.results_dir)
    plot(summary, out / "reader_quality.png")
    print(f"\n{'reader':>14} {'dev F1':>8} {'EM':>6} {'kept':>5} {'ex/s':>7} {'params':>10} {'trainable':>9}")
    for name, b in summary["baselines"].items():
        print(f"{name:>14} {b['f1']:8.2f} {b['em']:6.2f} {'-':>5} {'-':>7} {'-':>10} {'-':>9}")
    for name, rec in summary["readers"].items():
        if name not in figures["readers"]:
            continue  # no epoch recorded yet
        dev = rec["dev"]
        speed = figures["readers"][name]["examples_per_s"]
        print(f"{name:>14} {dev['f1']:8.2f} {dev['em']:6.2f} {dev['epoch']:>5} {speed:7.1f} "
              f"{rec['params']:>10,} {rec['trainable_params']:>9,}")
    print(f"\n{'graph':>20} {'seeds':>7} {'mean F1':>8} {'vs drqa, paired':>16}")
    for graph, row in figures["by_seed"].items():
        gap = "-" if row["mean_gap"] is None else f"{row['mean_gap']:+.2f} ({len(row['paired_seeds'])} seeds)"
        print(f"{graph:>20} {','.join(map(str, row['seeds'])):>7} {row['mean_f1']:8.2f} {gap:>16}")
    print(f"\nwrote {summary_path} and {out / 'reader_quality.png'}")
    return summary


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    main(parse_args())

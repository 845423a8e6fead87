"""What a full-data trial costs on this machine, per model size.

On the shared full-size data (``../shared/data``: 11,877 SQuAD training
questions, the first 2,000 dev questions by default, the 50d GloVe subset),
for each model size (tiny, small, default) this measures:

* training examples per second (a handful of timed batches after one
  warm-up batch that traces the step) and evaluation examples per second;
* checkpoint bytes per individual, with the frozen GloVe table inside every
  checkpoint (format 1, "before") and stored once per search (format 2,
  "after"), plus the size of that one shared table file;
* seconds per trial-epoch, **extrapolated** from the measured rates (one pass
  over the training split plus one over the validation split), and the
  seconds to score the dev set once;
* peak resident memory of the process.

Rates come from a few batches of the shuffled, length-bucketed order a trial
uses, so they are estimates (long passages cost more than short ones); pass
``--train-batches``/``--eval-batches`` to measure longer. The default word
width follows the GloVe file (50), as in a trial. Figures go to stdout and to
``results/full_data.json`` (``benchmarks/bench_json.py``).

Usage::

    .venv/bin/python benchmarks/full_data.py [--sizes tiny small default] [--threads 2]
        [--train-batches 6] [--eval-batches 3] [--data-dir ../shared/data]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

from benchmarks.bench_json import write_result  # noqa: E402

logger = logging.getLogger("full_data")

# ../shared/data seen from the repository root, or from a worktree one level further down.
_DATA_CANDIDATES = (REPO_ROOT.parent / "shared" / "data", REPO_ROOT.parent.parent / "shared" / "data")


def _default_data_dir() -> Path:
    return next((p for p in _DATA_CANDIDATES if p.is_dir()), _DATA_CANDIDATES[0])


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", type=Path, default=_default_data_dir(),
                   help="folder with squad/{train,dev}.json and glove/glove.6B.50d.subset.txt")
    p.add_argument("--sizes", nargs="+", default=["tiny", "small", "default"])
    p.add_argument("--dev-limit", type=int, default=2000, help="dev questions used (first N)")
    p.add_argument("--val-fraction", type=float, default=0.05)
    p.add_argument("--max-passage-len", type=int, default=400)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--eval-batch-size", type=int, default=64)
    p.add_argument("--train-batches", type=int, default=16, help="timed training batches per size")
    p.add_argument("--eval-batches", type=int, default=6, help="timed evaluation batches per size")
    p.add_argument("--threads", type=int, default=2, help="TensorFlow intra-op threads")
    p.add_argument("--cache-dir", default=str(REPO_ROOT / "runs" / "cache"),
                   help="preprocessed-data cache ('' disables it)")
    p.add_argument("--out", type=Path, default=REPO_ROOT / "results")
    return p.parse_args(argv)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _rate(step, batches: list[dict[str, Any]]) -> tuple[float, int, float, float]:
    """Run ``step`` on one warm-up batch, then time the rest.

    Returns:
        ``(examples/s, examples, wall seconds, CPU seconds / wall seconds)``;
        the last says how much of the cores this process really got (other
        work on a shared machine lowers it, and the wall-clock rate with it).
    """
    from ga_squad.reader.model import INPUT_KEYS

    def run(batch):
        out = step({k: batch[k] for k in INPUT_KEYS}, batch["begin"], batch["end"])
        (out[0] if isinstance(out, tuple) else out).numpy()  # wait for the result

    run(batches[0])
    seen = 0
    t0, c0 = time.perf_counter(), time.process_time()
    for batch in batches[1:]:
        run(batch)
        seen += len(batch["begin"])
    seconds = time.perf_counter() - t0
    return seen / seconds, seen, seconds, (time.process_time() - c0) / seconds


def _checkpoint_bytes(model, graph, model_cfg, store: Path | None, where: Path) -> int:
    from ga_squad.reader.checkpoint import checkpoint_dir, publish_checkpoint

    publish_checkpoint(model, where, indiv_id=0, parent_id=None, graph=graph, model_config=model_cfg.to_dict(),
                       model_fingerprint=model_cfg.fingerprint(), data_fingerprint="bench", metrics={},
                       embedding_store=store)
    return sum(f.stat().st_size for f in checkpoint_dir(where).iterdir())


def measure_size(size: str, data, args: argparse.Namespace, scratch: Path) -> dict[str, Any]:
    """Rates, checkpoint bytes and extrapolated epoch time of one model size."""
    import keras

    from ga_squad.reader.arrays import iterate_batches
    from ga_squad.reader.config import ModelConfig, TrainConfig
    from ga_squad.reader.model import build_model, count_params, weights_by_hash
    from ga_squad.reader.training import make_steps
    from ga_squad.search.graph import base_reader

    model_cfg = dataclasses.replace(ModelConfig.preset(size), word_dim=int(data.embeddings.shape[1]))
    train_cfg = TrainConfig(batch_size=args.batch_size, eval_batch_size=args.eval_batch_size)
    keras.utils.set_random_seed(0)
    graph = base_reader()
    model = build_model(graph, model_cfg, len(data.word_vocab), len(data.char_vocab), data.embeddings)
    steps = make_steps(model, train_cfg)

    train_batches = []
    for batch in iterate_batches(data.train, args.batch_size, shuffle=True, seed=0):
        train_batches.append(batch)
        if len(train_batches) > args.train_batches:
            break
    eval_batches = []
    for batch in iterate_batches(data.dev, args.eval_batch_size, shuffle=True, seed=0):
        eval_batches.append(batch)
        if len(eval_batches) > args.eval_batches:
            break
    train_rate, train_n, train_s, train_cpu = _rate(steps.train, train_batches)
    eval_rate, eval_n, eval_s, eval_cpu = _rate(steps.evaluate, eval_batches)

    inline = _checkpoint_bytes(model, graph, model_cfg, None, scratch / size / "inline")
    store = scratch / "embeddings"
    stored = _checkpoint_bytes(model, graph, model_cfg, store, scratch / size / "stored")
    table_bytes = sum(f.stat().st_size for f in store.iterdir())
    epoch_s = len(data.train) / train_rate + len(data.val) / eval_rate
    return {
        "size": size,
        "model_config": model_cfg.to_dict(),
        "params": count_params(weights_by_hash(model)),
        "trainable_params": int(sum(int(v.numpy().size) for v in model.trainable_variables)),
        "train_examples_per_s": train_rate,
        "train_timed": {"examples": train_n, "seconds": train_s, "batches": len(train_batches) - 1,
                        "cpu_seconds_per_second": train_cpu},
        "eval_examples_per_s": eval_rate,
        "eval_timed": {"examples": eval_n, "seconds": eval_s, "batches": len(eval_batches) - 1,
                       "cpu_seconds_per_second": eval_cpu},
        "checkpoint_bytes_inline_table": inline,
        "checkpoint_bytes_shared_table": stored,
        "shared_table_bytes_once_per_search": table_bytes,
        "extrapolated_seconds_per_trial_epoch": epoch_s,
        "extrapolated_seconds_dev_once": len(data.dev) / eval_rate,
        "extrapolated_seconds_full_dev_once": 10570 / eval_rate,
        "peak_rss_mb_so_far": _peak_rss_mb(),
    }


def main(args: argparse.Namespace) -> dict[str, Any]:
    from ga_squad.reader.precision import training_device
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(args.threads, 1, deterministic=False)
    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.dataset import DataConfig

    squad, glove = args.data_dir / "squad", args.data_dir / "glove" / "glove.6B.50d.subset.txt"
    for path in (squad / "train.json", squad / "dev.json", glove):
        if not path.is_file():
            raise SystemExit(f"full_data: {path} not found (pass --data-dir)")
    t0 = time.perf_counter()
    data = load_dataset(DataConfig(str(squad / "train.json"), str(squad / "dev.json"), str(glove),
                                   max_passage_len=args.max_passage_len, dev_limit=args.dev_limit,
                                   val_fraction=args.val_fraction), args.cache_dir or None)
    load_s = time.perf_counter() - t0
    print(f"data: {len(data.train)} train / {len(data.val)} validation / {len(data.dev)} dev questions, "
          f"{len(data.word_vocab)} words, loaded in {load_s:.1f} s ({'cache' if data.from_cache else 'built'})",
          flush=True)
    device = training_device()
    figures: dict[str, Any] = {
        "device": device, "threads": args.threads, "cpu_count": os.cpu_count(),
        "data": {"train": len(data.train), "val": len(data.val), "dev": len(data.dev),
                 "vocab": len(data.word_vocab), "glove_dim": int(data.embeddings.shape[1]),
                 "load_seconds": load_s, "from_cache": data.from_cache},
        "sizes": [],
    }
    with tempfile.TemporaryDirectory(prefix="full_data-") as scratch:
        for size in args.sizes:
            row = measure_size(size, data, args, Path(scratch))
            figures["sizes"].append(row)
            print(f"{size:8s} train {row['train_examples_per_s']:7.1f} ex/s (CPU {row['train_timed']['cpu_seconds_per_second']:.2f})  "
                  f"eval {row['eval_examples_per_s']:7.1f} ex/s  "
                  f"checkpoint {row['checkpoint_bytes_inline_table'] / 1e6:6.2f} MB -> "
                  f"{row['checkpoint_bytes_shared_table'] / 1e6:6.2f} MB (+ one {row['shared_table_bytes_once_per_search'] / 1e6:.2f} MB table)  "
                  f"epoch ~{row['extrapolated_seconds_per_trial_epoch'] / 60:6.1f} min (extrapolated)  "
                  f"dev once ~{row['extrapolated_seconds_dev_once']:5.0f} s  peak RSS {row['peak_rss_mb_so_far']:.0f} MB",
                  flush=True)
    figures["peak_rss_mb"] = _peak_rss_mb()
    out = write_result("full_data", figures, {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                       out_dir=args.out)
    print(f"device {device}, {args.threads} threads, peak RSS {figures['peak_rss_mb']:.0f} MB; wrote {out}")
    return figures


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main(parse_args())

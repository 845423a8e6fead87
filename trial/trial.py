"""NNI trial entry: read the contract, train one individual, report its F1.

Under NNI (``NNI_PLATFORM`` is set) the parameters come from
``nni.get_next_parameter()`` and are parsed with
:meth:`ga_squad.search.contract.TrialParams.from_dict`; each epoch's validation
F1 goes to ``nni.report_intermediate_result`` and the result dict (``default``
= validation F1, ``dev_f1``/``dev_em`` = the dev set scored once on the
published weights) to ``nni.report_final_result``, after the checkpoint is
published. The validation split is ``--val-fraction`` of the training file,
by whole articles.

Standalone (for debugging), the same trial runs from the command line::

    .venv/bin/python trial/trial.py --size tiny --epochs 1 --save-dir runs/debug/000000
    .venv/bin/python trial/trial.py --preset drqa --epochs 1 --save-dir runs/debug/drqa
    .venv/bin/python trial/trial.py --size tiny --epochs 1 --save-dir runs/debug/000001 \\
        --restore-dir runs/debug/000000 --shared-ids all --indiv-id 1

Data, model size and threads are command-line options in both modes (the NNI
``trialCommand`` passes them). NNI runs ``python trial/trial.py`` from the code
directory, so the repository root is put on ``sys.path`` here.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from ga_squad.reader.config import MODEL_SIZES, ModelConfig, TrainConfig  # noqa: E402
from ga_squad.search.claims import claim  # noqa: E402
from ga_squad.search.contract import TrialParams  # noqa: E402
from ga_squad.reader.dataset import DataConfig  # noqa: E402
from ga_squad.search.graph import Graph, base_reader  # noqa: E402
from ga_squad.search.presets import PRESETS, preset  # noqa: E402

logger = logging.getLogger("ga_squad.trial")

DATA_DIR = REPO_ROOT / "data"
DEFAULT_TRAIN = DATA_DIR / "squad_train_sample.json"
DEFAULT_DEV = DATA_DIR / "squad_dev_sample.json"


@dataclass(frozen=True)
class StandaloneSpec:
    """What the command line asks for when no tuner hands out parameters.

    Attributes:
        graph_file: A graph JSON file, or None for ``preset`` (default: the base reader).
        save_dir: Where to publish.
        restore_dir: A parent's save_dir, or None for a cold start.
        shared_ids: ``"all"`` or hash ids to inherit.
        indiv_id: This individual's id.
        parent_id: The parent's id (None: read from the parent's manifest).
        seed: The trial seed.
        preset: A preset graph's name (see :mod:`ga_squad.search.presets`).
    """

    graph_file: str | None
    save_dir: str
    restore_dir: str | None
    shared_ids: tuple[str, ...]
    indiv_id: int
    parent_id: int | None
    seed: int
    preset: str | None = None


@dataclass(frozen=True)
class TrialConfig:
    """Everything one trial process needs, built once from the command line.

    Attributes:
        data: Data settings.
        cache_dir: Shared cache folder for preprocessed arrays (None: no cache).
        embedding_store: Folder where frozen embedding tables are stored once
            for all checkpoints (None: inside each checkpoint).
        model: Architecture options (``word_dim`` follows the GloVe file).
        train: Optimiser options.
        storage_root: If set, contract paths must stay inside it.
        standalone: Command-line parameters, or None to ask NNI.
        intra_threads: TensorFlow intra-op threads.
        inter_threads: TensorFlow inter-op threads.
        deterministic: Deterministic TensorFlow kernels.
    """

    data: DataConfig
    cache_dir: str | None
    model: ModelConfig
    train: TrainConfig
    storage_root: str | None
    standalone: StandaloneSpec | None
    embedding_store: str | None = None
    intra_threads: int = 1
    inter_threads: int = 1
    deterministic: bool = True


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1 (exclusive), got {text}")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Train one ga-squad individual (NNI trial or standalone).")
    g = p.add_argument_group("standalone parameters (ignored under NNI)")
    which = g.add_mutually_exclusive_group()
    which.add_argument("--graph", help="graph JSON file (default: the base reader)")
    which.add_argument("--preset", choices=sorted(PRESETS), help="train a preset reader")
    g.add_argument("--save-dir", default="runs/standalone/000000", help="where to publish the checkpoint")
    g.add_argument("--restore-dir", help="parent's save dir to warm-start from")
    g.add_argument("--shared-ids", default="all",
                   help="'all' (every layer the checkpoint has) or comma-separated hash ids")
    g.add_argument("--indiv-id", type=int, default=0)
    g.add_argument("--parent-id", type=int, help="default: read from the parent's manifest")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--standalone", action="store_true", help="ignore NNI even if NNI_PLATFORM is set")
    d = p.add_argument_group("data")
    d.add_argument("--train", default=str(DEFAULT_TRAIN), help="SQuAD v1.1 training file")
    d.add_argument("--dev", default=str(DEFAULT_DEV), help="SQuAD v1.1 dev file")
    d.add_argument("--glove", help="GloVe text file (e.g. data/glove.sample.50d.txt); default none")
    d.add_argument("--cache-dir", default=str(REPO_ROOT / "runs" / "cache"),
                   help="shared cache of preprocessed arrays ('' disables it)")
    d.add_argument("--train-limit", type=int)
    d.add_argument("--dev-limit", type=int)
    d.add_argument("--max-passage-len", type=int, default=400)
    d.add_argument("--val-fraction", type=_fraction, default=0.05,
                   help="share of the training questions held out (whole articles) for early stopping "
                        "and the fitness; the dev set is scored once at the end (default 0.05)")
    d.add_argument("--val-seed", type=int, default=0, help="seed of the validation article choice")
    d.add_argument("--val-limit", type=int, help="use only the first N validation questions")
    m = p.add_argument_group("model and training")
    m.add_argument("--size", choices=MODEL_SIZES, default="small")
    m.add_argument("--epochs", type=int)
    m.add_argument("--patience", type=int)
    m.add_argument("--batch-size", type=int)
    m.add_argument("--lr", type=float, help="learning rate")
    m.add_argument("--inherited-lr-scale", type=float)
    m.add_argument("--fresh-optimizer", action="store_true",
                   help="every trial starts a fresh Adam (default: a child resumes its parent's Adam state "
                        "for the variables it inherits unchanged)")
    m.add_argument("--start-competes", action="store_true",
                   help="a child whose trained epochs all score below its start on validation publishes "
                        "its start unchanged (off: it publishes its best trained epoch)")
    m.add_argument("--train-embeddings", action="store_true", help="fine-tune GloVe vectors")
    m.add_argument("--mixed-precision", action="store_true",
                   help="float16 compute, float32 variables/logits/loss (for GPUs with tensor cores)")
    b = p.add_argument_group("equal-compute baseline (what `python -m ga_squad run` asks for after a search)")
    b.add_argument("--equal-compute-baseline", type=int, metavar="TRIALS",
                   help="instead of a trial: train the reader (--preset, default base) alone for TRIALS x "
                        "--epochs epochs with early stopping, or read it from <storage-root>/cache")
    b.add_argument("--baseline-out", help="write the baseline's outcome (JSON) here")
    r = p.add_argument_group("runtime")
    r.add_argument("--storage-root", help="contract paths must stay inside this folder")
    r.add_argument("--embedding-store",
                   help="folder where frozen GloVe tables are stored once for all checkpoints "
                        "(default: <storage-root>/embeddings with --storage-root, else inside each "
                        "checkpoint; '' keeps them inside)")
    r.add_argument("--threads", type=int, default=1,
                   help="TensorFlow intra-op threads (1 per trial when trials share the cores)")
    r.add_argument("--inter-threads", type=int, default=1)
    r.add_argument("--nondeterministic", action="store_true", help="skip TF op determinism")
    r.add_argument("--log-level", default="INFO")
    return p.parse_args(argv)


def config_from_args(args: argparse.Namespace, env: Mapping[str, str] = os.environ) -> TrialConfig:
    """Turn parsed arguments into the frozen trial configuration."""
    train = TrainConfig()
    overrides = {"epochs": args.epochs, "patience": args.patience, "batch_size": args.batch_size,
                 "learning_rate": args.lr, "inherited_lr_scale": args.inherited_lr_scale}
    train = train.override(**{k: v for k, v in overrides.items() if v is not None},
                           fix_embeddings=not args.train_embeddings, seed=args.seed,
                           mixed_precision=args.mixed_precision, start_competes=args.start_competes,
                           resume_optimizer=not args.fresh_optimizer)
    under_nni = bool(env.get("NNI_PLATFORM")) and not args.standalone
    standalone = None
    if not under_nni:
        shared = tuple(s for s in args.shared_ids.split(",") if s.strip())
        standalone = StandaloneSpec(args.graph, args.save_dir, args.restore_dir, shared,
                                    args.indiv_id, args.parent_id, args.seed, args.preset)
    return TrialConfig(
        data=DataConfig(train_path=args.train, dev_path=args.dev, glove_path=args.glove or None,
                        max_passage_len=args.max_passage_len,
                        train_limit=args.train_limit, dev_limit=args.dev_limit,
                        val_fraction=args.val_fraction, val_seed=args.val_seed, val_limit=args.val_limit),
        cache_dir=args.cache_dir or None,
        model=ModelConfig.preset(args.size),
        train=train,
        storage_root=args.storage_root,
        standalone=standalone,
        embedding_store=_embedding_store(args),
        intra_threads=args.threads,
        inter_threads=args.inter_threads,
        deterministic=not args.nondeterministic,
    )


def _embedding_store(args: argparse.Namespace) -> str | None:
    if args.embedding_store is not None:
        return args.embedding_store or None
    return str(Path(args.storage_root) / "embeddings") if args.storage_root else None


def standalone_params(spec: StandaloneSpec) -> TrialParams:
    """Trial parameters from the command line, shaped exactly like the tuner's."""
    if spec.graph_file is not None:
        graph = Graph.from_json(Path(spec.graph_file).read_text(encoding="utf-8"))
    else:
        graph = preset(spec.preset) if spec.preset else base_reader()
    restore_dir = shared = parent_id = None
    if spec.restore_dir is not None:
        from ga_squad.reader.checkpoint import CheckpointCorrupt, read_manifest

        restore_dir = spec.restore_dir
        shared = graph.weight_ids() if spec.shared_ids == ("all",) else frozenset(spec.shared_ids)
        parent_id = spec.parent_id
        if parent_id is None:
            try:
                parent_id = int(read_manifest(restore_dir)["indiv_id"])
            except (CheckpointCorrupt, KeyError, TypeError, ValueError) as exc:
                # No parent we can name: report parent_id null and cold-start rather than invent one.
                logger.warning("parent_id null, cold start: the manifest in %s names no parent (%s)",
                               restore_dir, exc)
                restore_dir = shared = None
    return TrialParams(indiv_id=spec.indiv_id, parent_id=parent_id, graph=graph,
                       restore_dir=restore_dir, save_dir=spec.save_dir, shared_ids=shared,
                       mutation="standalone", seed=spec.seed)


def _json_ready(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if hasattr(v, "dtype") else v) for k, v in result.items()}


def main(cfg: TrialConfig) -> dict[str, Any]:
    """Run the trial described by ``cfg`` and report to NNI (or print, standalone)."""
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(cfg.intra_threads, cfg.inter_threads, cfg.deterministic)
    import nni

    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.training import run_trial

    if cfg.standalone is None:
        params = TrialParams.from_dict(nni.get_next_parameter(), cfg.storage_root)
        claim(params.save_dir, os.environ.get("NNI_TRIAL_JOB_ID"))  # the tuner attributes our end by it
    else:
        params = standalone_params(cfg.standalone)
        if cfg.storage_root is not None:  # the same path checks as under NNI
            params = TrialParams.from_dict(params.to_dict(), cfg.storage_root)
    logger.info("individual %d (parent %s, %s): %d hidden layers, %d shared ids",
                params.indiv_id, params.parent_id, params.mutation or "seed",
                len(params.graph.hidden_layers), len(params.shared_ids or ()))
    data = load_dataset(cfg.data, cfg.cache_dir)
    model_cfg = cfg.model
    if data.embeddings is not None and data.embeddings.shape[1] != model_cfg.word_dim:
        logger.info("word_dim %d -> %d to fit the GloVe vectors", model_cfg.word_dim, data.embeddings.shape[1])
        model_cfg = replace(model_cfg, word_dim=int(data.embeddings.shape[1]))

    def on_epoch(epoch: int, metrics: Mapping[str, float]) -> None:
        if cfg.standalone is None:
            nni.report_intermediate_result(float(metrics["val_f1"]))

    result = _json_ready(run_trial(params, data, model_cfg, cfg.train, on_epoch=on_epoch,
                                   embedding_store=cfg.embedding_store))
    # Which machine trained it: with several machines (NNI's remote training
    # service) the journal then tells where each individual and its parent ran.
    result["host"] = socket.gethostname()
    if cfg.standalone is None:
        nni.report_final_result(result)
    else:
        print(json.dumps(result, sort_keys=True))
    return result


def baseline_main(cfg: TrialConfig, name: str, trials: int, out: str | None) -> dict[str, Any]:
    """Train (or read from the cache) the equal-compute baseline of a search of ``trials`` trials.

    The reader is the preset ``name``, trained from scratch with the search's
    data, model size and optimiser settings (seed 0) for all ``trials x epochs``
    epochs, keeping its best epoch by validation F1
    (:func:`ga_squad.sim.baseline.whole_budget`).
    """
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(cfg.intra_threads, cfg.inter_threads, cfg.deterministic)
    from ga_squad.analysis.baseline import BaselineOutcome, write_outcome
    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.sim.baseline import baseline_path, equal_compute_baseline, whole_budget

    if trials < 1:
        raise SystemExit(f"error: --equal-compute-baseline needs at least 1 trial, got {trials}")
    if cfg.storage_root is None:
        raise SystemExit("error: --equal-compute-baseline needs --storage-root (its cache lives there)")
    graph = preset(name)
    budget = trials * cfg.train.epochs
    data = load_dataset(cfg.data, cfg.cache_dir)
    model_cfg = cfg.model
    if data.embeddings is not None:
        model_cfg = replace(model_cfg, word_dim=int(data.embeddings.shape[1]))
    train_cfg = whole_budget(cfg.train)
    curve = equal_compute_baseline(cfg.storage_root, cfg.data, model_cfg, train_cfg, budget, graph=graph,
                                   data=data)
    outcome = BaselineOutcome(
        reader=name, budget=budget, val_f1=curve.best_at(budget), dev_f1=curve.dev_at(budget),
        epochs_run=min(curve.epochs_run, budget), seconds=curve.seconds, best_epoch=curve.best_epoch_at(budget),
        cache_path=str(baseline_path(cfg.storage_root, curve.key)))
    if out:
        write_outcome(out, outcome)
    print(json.dumps(outcome.to_dict(), sort_keys=True))
    return outcome.to_dict()


if __name__ == "__main__":
    _args = parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=getattr(logging, _args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _cfg = config_from_args(_args)
    if _args.equal_compute_baseline is not None:
        baseline_main(_cfg, _args.preset or "base", _args.equal_compute_baseline, _args.baseline_out)
    else:  # Seeding happens per trial in run_trial (from the contract's seed).
        main(_cfg)

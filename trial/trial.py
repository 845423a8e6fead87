"""NNI trial entry: read the contract, train one individual, report its F1.

Under NNI (``NNI_PLATFORM`` is set) the parameters come from
``nni.get_next_parameter()`` and are parsed with
:meth:`ga_squad.store.contract.TrialParams.from_dict`; each epoch's validation
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
``trialCommand`` passes them). NNI runs ``python trial/trial.py`` by path in the
trial code directory (on a remote worker: NNI's uploaded copy, with only
requirements.txt installed there), so this entry point, the only module that
does, puts that directory first on ``sys.path``.
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
sys.path.insert(0, str(REPO_ROOT))  # NNI starts this file by path; workers have the uploaded code, no install

from ga_squad.reader.baseline import train_presets  # noqa: E402
from ga_squad.reader.config import MODEL_SIZES, ModelConfig, TrainConfig  # noqa: E402
from ga_squad.reader.data_cache import load_dataset  # noqa: E402
from ga_squad.store.baselines import baseline_presets, write_baselines  # noqa: E402
from ga_squad.store.claims import claim  # noqa: E402
from ga_squad.store.contract import TrialParams  # noqa: E402
from ga_squad.search.fitness import EPOCH_METRICS, Fitness  # noqa: E402
from ga_squad.reader.dataset import DataConfig  # noqa: E402
from ga_squad.reader.input_error import InputError  # noqa: E402
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
        fitness: What the epoch kept is best by (``--fitness``; under NNI the contract says).
    """

    graph_file: str | None
    save_dir: str
    restore_dir: str | None
    shared_ids: tuple[str, ...]
    indiv_id: int
    parent_id: int | None
    seed: int
    preset: str | None = None
    fitness: Fitness = Fitness()


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
    d.add_argument("--dev-limit", type=int, help="use only N dev questions (after --dev-skip)")
    d.add_argument("--dev-skip", type=int, default=0,
                   help="leave out the first N dev questions (docs/protocol.md: the shared data reports "
                        "on questions 2,001-6,000, --dev-skip 2000 --dev-limit 4000)")
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
    m.add_argument("--fitness", choices=list(EPOCH_METRICS), default="default",
                   help="the search's fitness: the epoch kept is the best by it (val_loss: the lowest validation "
                        "loss; default: the highest validation F1). For standalone trials and "
                        "--equal-compute-baseline; under NNI the tuner's contract says it")
    m.add_argument("--train-embeddings", action="store_true", help="fine-tune GloVe vectors")
    m.add_argument("--mixed-precision", action="store_true",
                   help="float16 compute, float32 variables/logits/loss (for GPUs with tensor cores)")
    b = p.add_argument_group("equal-compute baseline (what `python -m ga_squad run` asks for after a search)")
    b.add_argument("--equal-compute-baseline", type=int, metavar="TRIALS",
                   help="instead of a trial: train each of --baseline-presets alone from scratch for all TRIALS x "
                        "--epochs epochs, keeping the epoch best by --fitness on validation (or read it from "
                        "<storage-root>/cache); prints one JSON line per epoch and per preset")
    b.add_argument("--baseline-presets", metavar="NAMES",
                   help="comma-separated presets to train (default: drqa,bidaf,base; `run` passes the search "
                        "space's presets and these)")
    b.add_argument("--baseline-out", help="write the presets' records (the search folder's baseline.json) here")
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
                 "learning_rate": args.lr}
    train = train.override(**{k: v for k, v in overrides.items() if v is not None},
                           fix_embeddings=not args.train_embeddings, seed=args.seed,
                           mixed_precision=args.mixed_precision)
    under_nni = bool(env.get("NNI_PLATFORM")) and not args.standalone
    standalone = None
    if not under_nni:
        shared = tuple(s for s in args.shared_ids.split(",") if s.strip())
        standalone = StandaloneSpec(args.graph, args.save_dir, args.restore_dir, shared,
                                    args.indiv_id, args.parent_id, args.seed, args.preset,
                                    Fitness.resolve(args.fitness))
    return TrialConfig(
        data=DataConfig(train_path=args.train, dev_path=args.dev, glove_path=args.glove or None,
                        max_passage_len=args.max_passage_len,
                        train_limit=args.train_limit, dev_limit=args.dev_limit, dev_skip=args.dev_skip,
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
        from ga_squad.reader.checkpoint import CheckpointCorrupt, read_manifest  # why here: loads Keras

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
                       mutation="standalone", seed=spec.seed, fitness=spec.fitness)


def _json_ready(result: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (float(v) if hasattr(v, "dtype") else v) for k, v in result.items()}


def main(cfg: TrialConfig) -> dict[str, Any]:
    """Run the trial described by ``cfg`` and report to NNI (or print, standalone)."""
    # why here: TensorFlow loads after __main__ set its log level; parsing the arguments needs neither it nor NNI.
    from ga_squad.reader.training import configure_tensorflow, run_trial

    configure_tensorflow(cfg.intra_threads, cfg.inter_threads, cfg.deterministic)
    import nni  # why here: as above

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


def baseline_main(cfg: TrialConfig, presets: Sequence[str], trials: int, out: str | None,
                  fitness: Fitness) -> list[dict[str, Any]]:
    """Train (or read from the cache) each preset of the equal-compute baseline of a search of ``trials`` trials.

    Each preset is trained from scratch with the search's data, model size
    and optimiser settings (``--seed``) for all ``trials x epochs`` epochs,
    keeping its best epoch by the search's fitness
    (:func:`ga_squad.reader.baseline.train_presets`). Progress goes to stdout
    as one JSON line per event (``epoch``: preset, epoch, val_f1, val_loss,
    seconds; ``done``: the preset's record, ``cached`` when it was read
    from the cache), which :func:`ga_squad.launch.baseline.run_baseline` shows.
    """
    from ga_squad.reader.training import configure_tensorflow  # why here: as in main

    configure_tensorflow(cfg.intra_threads, cfg.inter_threads, cfg.deterministic)
    if trials < 1:
        raise SystemExit(f"error: --equal-compute-baseline needs at least 1 trial, got {trials}")
    if cfg.storage_root is None:
        raise SystemExit("error: --equal-compute-baseline needs --storage-root (its cache lives there)")
    unknown = [name for name in presets if name not in PRESETS]
    if unknown or not presets:
        raise SystemExit(f"error: --baseline-presets {','.join(presets)}: unknown preset(s) {unknown}; "
                         f"expected names from {sorted(PRESETS)}")
    data = load_dataset(cfg.data, cfg.cache_dir)
    model_cfg = cfg.model
    if data.embeddings is not None:
        model_cfg = replace(model_cfg, word_dim=int(data.embeddings.shape[1]))

    def show(event: Mapping[str, Any]) -> None:
        print(json.dumps(event, sort_keys=True), flush=True)

    records = train_presets(presets, cfg.storage_root, cfg.data, model_cfg, cfg.train, trials * cfg.train.epochs,
                            fitness=fitness, seed=cfg.train.seed, data=data, on_progress=show)
    if out:
        write_baselines(out, records)
    return [r.to_dict() for r in records]


def _input_error_hook(kind: type[BaseException], exc: BaseException, tb: Any) -> None:
    """A user's bad data file (missing, truncated, empty, not UTF-8...): one line naming it, not a traceback."""
    if not issubclass(kind, InputError):
        sys.__excepthook__(kind, exc, tb)
        return
    logger.debug("input error", exc_info=(kind, exc, tb))  # the traceback, with --log-level debug
    print(f"error: {exc}", file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.excepthook = _input_error_hook  # uncaught InputError: exit 1 with one line
    _args = parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=getattr(logging, _args.log_level.upper(), logging.INFO),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    _cfg = config_from_args(_args)
    if _args.equal_compute_baseline is not None:
        _names = [n.strip() for n in (_args.baseline_presets or "").split(",") if n.strip()] or list(baseline_presets())
        baseline_main(_cfg, _names, _args.equal_compute_baseline, _args.baseline_out, Fitness.resolve(_args.fitness))
    else:  # Seeding happens per trial in run_trial (from the contract's seed).
        main(_cfg)

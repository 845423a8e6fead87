"""Train one individual: build, warm-start, train keeping its best epoch, score dev once, publish.

Three splits, three jobs: the model trains on ``train``; on ``val``
(articles held out of the training file) every epoch is scored by the
search's fitness, the best one is kept (training stops after
:attr:`~ga_squad.reader.config.TrainConfig.patience` epochs without a better
one) and its score is the trial's fitness; the dev set is scored exactly
once, on the published weights, so the dev score the leaderboard shows is
never one the search selected on.

:func:`run_trial` is the whole trial on the TensorFlow side; the NNI adapter
(``trial/trial.py``) only parses the contract and reports what comes back.

Speed: the training and evaluation steps are ``tf.function``s with a fixed
input signature whose sequence widths are ``None``, so they are traced once
and then run as one TensorFlow graph per batch whatever the batch widths,
without Python-level per-layer work (no XLA: dynamic shapes would recompile).

Inherited layers may learn at a different rate
(:attr:`~ga_squad.reader.config.TrainConfig.inherited_lr_scale`). Adam normalises
gradients, so scaling gradients would change almost nothing; instead the
inherited and fresh variables get two Adam optimizers with different learning
rates, after one global-norm clip over all gradients.

Mixed precision (opt-in, for GPUs with float16 tensor cores) is in
:mod:`ga_squad.reader.precision`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from ga_squad.reader import assets as reader_assets
from ga_squad.reader import optimizer_state
from ga_squad.reader.checkpoint import publish_checkpoint
from ga_squad.reader.optimizer_state import Moments, OptimizerGroup
from ga_squad.reader.warm_start import WarmStartReport, load_shared
from ga_squad.reader.config import ModelConfig, TrainConfig
from ga_squad.store.contract import TrialParams
from ga_squad.reader.arrays import SquadArrays, iterate_batches
from ga_squad.reader.dataset import Dataset
from ga_squad.reader.evaluation import decode_best_span, evaluate, write_predictions
from ga_squad.reader.model import INPUT_KEYS, build_model, count_params, weights_by_hash
from ga_squad.reader.precision import LossScale, dtype_policy, training_device

__all__ = [
    "PREDICTIONS_NAME",
    "EvalResult",
    "StepFunctions",
    "configure_tensorflow",
    "data_fingerprint",
    "evaluate_split",
    "make_steps",
    "run_trial",
    "train_epoch",
]

logger = logging.getLogger(__name__)

PREDICTIONS_NAME = "predictions.json"
EpochCallback = Callable[[int, Mapping[str, float]], None]

_INPUT_SPEC = {
    "question_words": tf.TensorSpec([None, None], tf.int32),
    "question_chars": tf.TensorSpec([None, None, None], tf.int32),
    "passage_words": tf.TensorSpec([None, None], tf.int32),
    "passage_chars": tf.TensorSpec([None, None, None], tf.int32),
    "question_features": tf.TensorSpec([None, None, None], tf.float32),
    "passage_features": tf.TensorSpec([None, None, None], tf.float32),
}
_LABEL_SPEC = tf.TensorSpec([None], tf.int32)


def configure_tensorflow(intra_threads: int = 1, inter_threads: int = 1, deterministic: bool = True) -> None:
    """Process-wide TensorFlow settings; call once, before any TensorFlow op runs.

    Args:
        intra_threads: Threads inside one op (0 = TensorFlow's choice). With
            two trials on two cores, 1 each is fastest.
        inter_threads: Ops run in parallel (0 = TensorFlow's choice).
        deterministic: Make kernels deterministic (cheap on CPU), so a seed
            fixes the result.
    """
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_threads)
        tf.config.threading.set_inter_op_parallelism_threads(inter_threads)
    except RuntimeError as exc:  # the runtime is already up: keep its settings
        logger.warning("TensorFlow threads already fixed (%s)", exc)
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def data_fingerprint(data: Dataset) -> str:
    """Hash of the vocabularies: equal fingerprints, embedding rows mean the same tokens."""
    return reader_assets.vocab_fingerprint(data.word_vocab, data.char_vocab,
                                           None if data.embeddings is None else int(data.embeddings.shape[1]))


# --- steps ----------------------------------------------------------------------
@dataclass(frozen=True)
class StepFunctions:
    """Compiled steps of one model.

    Attributes:
        train: ``(inputs, begin, end) -> mean loss`` (updates the weights).
        evaluate: ``(inputs, begin, end) -> (begin_logits, end_logits,
            per-example loss)``.
        optimizers: ``(optimizer, variables)`` pairs that train the model
            (for :func:`ga_squad.reader.optimizer_state.capture`).
    """

    train: Callable[..., tf.Tensor]
    evaluate: Callable[..., tuple[tf.Tensor, tf.Tensor, tf.Tensor]]
    optimizers: tuple[OptimizerGroup, ...] = ()


def _span_loss(begin: tf.Tensor, end: tf.Tensor, out: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Per-example loss: begin CE + end CE (padding logits are NEG_INF)."""
    return (tf.nn.sparse_softmax_cross_entropy_with_logits(begin, out["begin"])
            + tf.nn.sparse_softmax_cross_entropy_with_logits(end, out["end"]))


def make_steps(
    model: keras.Model, cfg: TrainConfig, inherited: Collection[str] = (), trainable: Collection[str] | None = None,
    resume: Mapping[str, Moments] | None = None,
) -> StepFunctions:
    """Build the compiled training and evaluation steps of ``model``.

    Args:
        model: Any Keras model with the reader's inputs and outputs (the
            benchmark also passes a hand-written one).
        cfg: Optimiser options.
        inherited: Paths of variables warm-started from the parent; they
            learn at ``learning_rate * inherited_lr_scale``.
        trainable: Paths of the variables to train; None means all of
            ``model.trainable_variables``.
        resume: Adam state by variable path (a parent's, from
            :class:`~ga_squad.reader.warm_start.WarmStartReport`): those
            variables continue with their moments and step count, one Adam
            per step count (:func:`ga_squad.reader.optimizer_state.optimizer_groups`).

    Returns:
        The two steps.
    """
    variables = [v for v in model.trainable_variables if trainable is None or v.path in trainable]
    rate = {path: cfg.learning_rate * cfg.inherited_lr_scale for path in inherited}
    resume = resume or {}
    groups: list[tuple[keras.optimizers.Optimizer, list[int]]] = []
    for lr, t, idx in optimizer_state.optimizer_groups(variables, rate, cfg.learning_rate, resume):
        optimizer = keras.optimizers.Adam(lr)
        optimizer.build([variables[i] for i in idx])
        if t is not None:
            optimizer_state.restore(optimizer, [variables[i] for i in idx], resume, t)
        groups.append((optimizer, idx))
    clipnorm = cfg.clipnorm
    scaler = LossScale() if cfg.mixed_precision else None

    def apply(grads):
        if clipnorm > 0:
            grads, _ = tf.clip_by_global_norm(grads, clipnorm)
        for optimizer, idx in groups:
            optimizer.apply_gradients([(grads[i], variables[i]) for i in idx])

    @tf.function(input_signature=[_INPUT_SPEC, _LABEL_SPEC, _LABEL_SPEC], jit_compile=False, autograph=False)
    def train_step(inputs, begin, end):
        with tf.GradientTape() as tape:
            out = model(inputs, training=True)
            loss = tf.reduce_mean(_span_loss(begin, end, out))
            scaled = loss if scaler is None else loss * scaler.scale
        grads = tape.gradient(scaled, variables)
        if scaler is None:
            apply(grads)
        else:
            scaler.apply_if_finite(grads, apply)
        return loss

    @tf.function(input_signature=[_INPUT_SPEC, _LABEL_SPEC, _LABEL_SPEC], jit_compile=False, autograph=False)
    def eval_step(inputs, begin, end):
        out = model(inputs, training=False)
        return out["begin"], out["end"], _span_loss(begin, end, out)

    return StepFunctions(train_step, eval_step,
                         tuple((optimizer, tuple(variables[i] for i in idx)) for optimizer, idx in groups))


def _inputs(batch: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: batch[k] for k in INPUT_KEYS}


def train_epoch(steps: StepFunctions, arrays: SquadArrays, batch_size: int, seed: int) -> tuple[float, int]:
    """One pass over ``arrays`` in a seeded shuffled order.

    Returns:
        ``(mean training loss, examples seen)``.
    """
    total = 0.0
    seen = 0
    for batch in iterate_batches(arrays, batch_size, shuffle=True, seed=seed):
        n = len(batch["begin"])
        loss = steps.train(_inputs(batch), batch["begin"], batch["end"])
        total += float(loss) * n
        seen += n
    return total / max(seen, 1), seen


@dataclass(frozen=True)
class EvalResult:
    """Scores of a model on one split.

    Attributes:
        loss: Mean per-question loss (begin CE + end CE), summed over all batches.
        em: Official exact match, 0-100.
        f1: Official F1, 0-100.
        predictions: ``{qid: answer text}`` (best legal span).
    """

    loss: float
    em: float
    f1: float
    predictions: dict[str, str]


def evaluate_split(
    steps: StepFunctions, arrays: SquadArrays, batch_size: int, max_answer_len: int
) -> EvalResult:
    """Loss, EM and F1 of the model on a split, with best-span decoding."""
    loss_sum = 0.0
    predictions: dict[str, str] = {}
    for batch in iterate_batches(arrays, batch_size, shuffle=False):
        begin_logits, end_logits, losses = steps.evaluate(_inputs(batch), batch["begin"], batch["end"])
        loss_sum += float(np.sum(losses.numpy(), dtype=np.float64))
        starts, ends = decode_best_span(begin_logits.numpy(), end_logits.numpy(),
                                        batch["passage_words"] != 0, max_answer_len)
        predictions.update(arrays.predictions(batch["index"], starts, ends))
    scores = evaluate(predictions, arrays.gold_answers())
    return EvalResult(loss_sum / max(len(arrays), 1), scores["exact_match"], scores["f1"], predictions)


# --- the trial ------------------------------------------------------------------
def _warm_start(model: keras.Model, params: TrialParams, model_cfg: ModelConfig,
                fingerprint: str) -> WarmStartReport:
    if params.restore_dir is None or params.shared_ids is None:
        total = count_params(weights_by_hash(model))
        return WarmStartReport(False, 0, total, (), (), reason="no parent")
    return load_shared(model, params.restore_dir, params.shared_ids,
                       data_fingerprint=fingerprint, model_fingerprint=model_cfg.fingerprint(), graph=params.graph)


def _better(new: EvalResult, old: EvalResult, metric: str = "val_f1") -> bool:
    """Whether epoch ``new`` beats ``old`` by the search's fitness (its per-epoch ``metric``).

    ``val_loss``: the lower loss wins, an equal loss only with a higher F1.
    ``val_f1``/``val_em``: the higher score wins, an equal one only with a
    lower loss. A trial keeps the epoch its search would rank it by, so a
    search ranked by loss never receives an individual's best-F1 epoch.
    """
    if metric == "val_loss":
        return new.loss < old.loss or (new.loss == old.loss and new.f1 > old.f1)
    a, b = (new.em, old.em) if metric == "val_em" else (new.f1, old.f1)
    return a > b or (a == b and new.loss < old.loss)


def _epoch_value(result: EvalResult, metric: str) -> float:
    return {"val_loss": result.loss, "val_em": result.em}.get(metric, result.f1)


def _snapshot(model: keras.Model) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in model.weights]


def run_trial(
    params: TrialParams,
    data: Dataset,
    model_cfg: ModelConfig,
    train_cfg: TrainConfig,
    on_epoch: EpochCallback | None = None,
    embedding_store: str | Path | None = None,
) -> dict[str, Any]:
    """Train one individual and publish its checkpoint and dev predictions.

    The per-trial seed is ``params.seed`` (it replaces ``train_cfg.seed``):
    same parameters, same data, same result. The starting point (inherited
    or fresh weights) is scored on the validation split first (the
    ``initial_*`` figures: does a child start where its parent ended?).
    Training then keeps the trained epoch that is best there by the search's
    fitness (``params.fitness``: the lowest validation loss when the search
    ranks by ``val_loss``, else the highest validation F1 or EM; early
    stopping after ``patience`` epochs without improvement) and publishes
    it, even when the start scored higher: a child's fitness is what *its*
    training reached. Republishing the start would copy the parent's
    validation luck into every descendant and freeze the lineage
    (:attr:`~ga_squad.reader.config.TrainConfig.start_competes`, a benchmark
    knob, lets the start compete; with 0 epochs the start is published). A child
    that continues this individual starts from exactly the published
    ``val_loss``. The dev set is scored once, on the published weights.

    Args:
        params: The contract from the tuner.
        data: The preprocessed dataset; it must have a validation split.
        model_cfg: Architecture options (a child must keep its parent's).
        train_cfg: Optimiser options.
        on_epoch: Called after each epoch with ``(epoch, metrics)`` where
            metrics has ``val_f1``, ``val_em``, ``val_loss``, ``train_loss``.
        embedding_store: Folder for frozen embedding tables shared by all
            checkpoints (see :func:`~ga_squad.reader.checkpoint.publish_checkpoint`);
            None keeps them inside this checkpoint.

    Returns:
        The result dict (``default`` = validation F1 of the kept epoch;
        ``selected_by`` = the metric it was kept by; keys in docs/design.md,
        "The parameter contract").

    Raises:
        ValueError: if ``data`` has no validation split.
        ga_squad.search.fitness.FitnessError: if the trial cannot select
            epochs by ``params.fitness``.
        ga_squad.reader.checkpoint.CheckpointError: if the parent checkpoint is
            incompatible (a missing or damaged one only means a cold start).
    """
    if len(data.val) == 0:
        raise ValueError("the dataset has no validation split (DataConfig.val_fraction is 0 or "
                         "val_limit cut it away); early stopping and the fitness need one")
    selected_by = params.fitness.epoch_metric
    started = time.perf_counter()
    train_cfg = dataclasses.replace(train_cfg, seed=params.seed)
    keras.utils.set_random_seed(params.seed)
    device = training_device()
    logger.info("individual %d trains on %s%s (logical devices: %s)", params.indiv_id, device,
                " with mixed precision" if train_cfg.mixed_precision else "",
                ", ".join(d.name for d in tf.config.list_logical_devices()))
    with dtype_policy(train_cfg.mixed_precision):
        model = build_model(params.graph, model_cfg, len(data.word_vocab), len(data.char_vocab),
                            embeddings=data.embeddings, fix_embeddings=train_cfg.fix_embeddings,
                            data_features=data.train.feature_names)
    fingerprint = data_fingerprint(data)

    t0 = time.perf_counter()
    report = _warm_start(model, params, model_cfg, fingerprint)
    warm_start_seconds = time.perf_counter() - t0

    groups = weights_by_hash(model)
    inherited_paths = {v.path for h in report.loaded_ids for v in groups[h]}
    steps = make_steps(model, train_cfg, inherited=inherited_paths,
                       resume=report.optimizer if train_cfg.resume_optimizer else None)
    eval_args = (train_cfg.eval_batch_size, train_cfg.max_answer_len)
    best = initial = evaluate_split(steps, data.val, *eval_args)
    logger.info("individual %d before training: val loss %.4f, F1 %.2f, EM %.2f",
                params.indiv_id, initial.loss, initial.f1, initial.em)

    t0 = time.perf_counter()
    best_epoch = epochs_run = 0
    # Without start_competes the first trained epoch wins by default (None: no candidate yet).
    best_weights = _snapshot(model) if train_cfg.start_competes else None
    best_state = optimizer_state.capture(steps.optimizers) if train_cfg.start_competes else None
    for epoch in range(1, train_cfg.epochs + 1):
        train_loss, _ = train_epoch(steps, data.train, train_cfg.batch_size, seed=params.seed * 1000 + epoch)
        result = evaluate_split(steps, data.val, *eval_args)
        epochs_run = epoch
        metrics = {"val_f1": result.f1, "val_em": result.em, "val_loss": result.loss, "train_loss": train_loss}
        logger.info("individual %d epoch %d: train loss %.4f, val loss %.4f, F1 %.2f, EM %.2f",
                    params.indiv_id, epoch, train_loss, result.loss, result.f1, result.em)
        if on_epoch is not None:
            on_epoch(epoch, metrics)
        if best_weights is None or _better(result, best, selected_by):
            best, best_epoch = result, epoch
            best_weights = _snapshot(model)
            best_state = optimizer_state.capture(steps.optimizers)
        elif epoch - best_epoch >= train_cfg.patience:
            logger.info("early stop after epoch %d (best %s %.4f at epoch %d)", epoch, selected_by,
                        _epoch_value(best, selected_by), best_epoch)
            break
    if best_epoch != epochs_run:
        assert best_weights is not None
        if best_epoch == 0:
            logger.info("individual %d: no epoch beat its starting point (%s %.4f); publishing "
                        "the starting weights", params.indiv_id, selected_by, _epoch_value(initial, selected_by))
        for var, value in zip(model.weights, best_weights):
            var.assign(value)
    del best_weights
    train_seconds = time.perf_counter() - t0

    t0 = time.perf_counter()
    dev = evaluate_split(steps, data.dev, *eval_args)
    dev_seconds = time.perf_counter() - t0
    total = count_params(groups)
    result_dict: dict[str, Any] = {
        "default": best.f1,
        "val_f1": best.f1,
        "val_em": best.em,
        "val_loss": best.loss,
        "initial_val_f1": initial.f1,
        "initial_val_em": initial.em,
        "initial_val_loss": initial.loss,
        "dev_f1": dev.f1,
        "dev_em": dev.em,
        "dev_loss": dev.loss,
        "f1": dev.f1,
        "em": dev.em,
        "val_questions": len(data.val),
        "dev_questions": len(data.dev),
        "inherited_params": report.inherited_params,
        "fresh_params": report.fresh_params,
        "total_params": total,
        "epochs": epochs_run,
        "best_epoch": best_epoch,
        "selected_by": selected_by,
        "train_seconds": train_seconds,
        "dev_seconds": dev_seconds,
        "warm_start": report.warm_start,
        "warm_start_seconds": warm_start_seconds,
        "device": device,
        "mixed_precision": train_cfg.mixed_precision,
        "indiv_id": params.indiv_id,
        "parent_id": params.parent_id,
    }
    save_dir = Path(params.save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    write_predictions(save_dir / PREDICTIONS_NAME, dev.predictions)
    result_dict["trial_seconds"] = time.perf_counter() - started  # the manifest's figure: up to the publish
    publish_checkpoint(
        model, save_dir, indiv_id=params.indiv_id, parent_id=params.parent_id, graph=params.graph,
        model_config=model_cfg.to_dict(), model_fingerprint=model_cfg.fingerprint(),
        data_fingerprint=fingerprint, metrics=result_dict, embedding_store=embedding_store,
        optimizer=best_state if best_state is not None else optimizer_state.capture(steps.optimizers),
        extra={"train_config": train_cfg.to_dict(), **reader_assets.manifest_fields(data, save_dir),
               "mutation": params.mutation,
               "warm_start": {"loaded_ids": list(report.loaded_ids),
                              "missing_ids": list(report.missing_ids), "reason": report.reason}},
    )
    result_dict["trial_seconds"] = time.perf_counter() - started  # the result's: the publish included
    logger.info("individual %d done: val F1 %.2f, dev F1 %.2f EM %.2f (%d epochs, best %d, %.1f s, "
                "warm start %s)", params.indiv_id, best.f1, dev.f1, dev.em, epochs_run, best_epoch,
                result_dict["trial_seconds"], report.warm_start)
    return result_dict

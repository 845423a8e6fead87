"""Reload a published checkpoint and score it again on the dev set.

The model is rebuilt from the manifest (graph + ``model_config``), every
weight is loaded through :func:`ga_squad.reader.warm_start.load_shared` (which checks
the data and model fingerprints), and the dev split is scored with the very
functions the trial used (:func:`ga_squad.reader.training.evaluate_split` with the
manifest's ``train_config`` batch size and answer length). EM and F1 must then
equal what the trial reported.

The data settings are the manifest's ``data_config`` (every trial records
its ``DataConfig`` there, with absolute paths); where the files have moved,
the caller passes a :class:`~ga_squad.reader.dataset.DataConfig` explicitly. The vocabulary
(from the training file, ``train_limit``, ...) is checked against the
manifest's ``data_fingerprint``; the dev-side settings (``dev_limit``,
``max_passage_len``) are not covered by that fingerprint, so a wrong override
shows up as a score that differs from the reported one.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# This module is where TensorFlow enters the analysis (checkpoint, model, training); importers that
# must stay TensorFlow-free import it inside the function that re-evaluates.
from ga_squad.reader.bundle import restore_model
from ga_squad.reader.checkpoint import read_manifest
from ga_squad.reader.config import TrainConfig
from ga_squad.reader.data_cache import load_dataset
from ga_squad.reader.dataset import DataConfig, Dataset
from ga_squad.reader.evaluation import (
    exact_match_score,
    f1_score,
    metric_max_over_ground_truths,
)
from ga_squad.reader.squad import read_squad
from ga_squad.reader.training import (
    PREDICTIONS_NAME,
    data_fingerprint,
    evaluate_split,
    make_steps,
)

__all__ = [
    "DATA_CONFIG_KEY",
    "DataConfigMissing",
    "Reevaluation",
    "SamplePrediction",
    "data_config_for",
    "load_model",
    "reevaluate",
]

logger = logging.getLogger(__name__)

DATA_CONFIG_KEY = "data_config"  # manifest field holding DataConfig.to_dict()
SCORE_TOLERANCE = 1e-6  # EM/F1 are 0-100 averages: equal up to float summation noise


class DataConfigMissing(LookupError):
    """Neither the checkpoint nor the caller says which data the trial used."""


@dataclass(frozen=True)
class SamplePrediction:
    """One dev question with the model's answer and the references.

    Attributes:
        qid: Question id.
        question: Question text.
        prediction: The model's answer (best legal span).
        gold: Reference answers.
        em: Exact match of this answer (0 or 100).
        f1: F1 of this answer (0-100).
    """

    qid: str
    question: str
    prediction: str
    gold: tuple[str, ...]
    em: float
    f1: float


@dataclass(frozen=True)
class Reevaluation:
    """A checkpoint scored again.

    Attributes:
        indiv_id: The individual.
        save_dir: Its folder.
        data_config: The data settings used.
        questions: Dev questions scored.
        em, f1, dev_loss: Scores now.
        reported_em, reported_f1, reported_dev_loss: What the trial reported
            (the manifest's ``metrics``).
        predictions_agree: Fraction of answers equal to the trial's stored
            ``predictions.json`` (None if it is missing).
        samples: A few predicted vs gold answers.
    """

    indiv_id: int
    save_dir: str
    data_config: Mapping[str, Any]
    questions: int
    em: float
    f1: float
    dev_loss: float
    reported_em: float | None
    reported_f1: float | None
    reported_dev_loss: float | None
    predictions_agree: float | None
    samples: tuple[SamplePrediction, ...]

    def matches(self, tolerance: float = SCORE_TOLERANCE) -> bool:
        """Whether EM and F1 equal the reported ones (within ``tolerance`` points)."""
        return (self.reported_em is not None and self.reported_f1 is not None
                and abs(self.em - self.reported_em) <= tolerance and abs(self.f1 - self.reported_f1) <= tolerance)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["matches"] = self.matches()
        return d

    def to_markdown(self) -> str:
        def fmt(v: float | None) -> str:
            return "-" if v is None else f"{v:.4f}"

        lines = [
            f"Individual {self.indiv_id} reloaded from `{self.save_dir}` and scored on "
            f"{self.questions} dev questions.", "",
            "| | EM | F1 | dev loss |", "|---|---|---|---|",
            f"| reported by the trial | {fmt(self.reported_em)} | {fmt(self.reported_f1)} "
            f"| {fmt(self.reported_dev_loss)} |",
            f"| re-evaluated | {fmt(self.em)} | {fmt(self.f1)} | {fmt(self.dev_loss)} |", "",
            f"**{'Match' if self.matches() else 'MISMATCH'}** (tolerance {SCORE_TOLERANCE:g} points)."
            + ("" if self.predictions_agree is None
               else f" {100 * self.predictions_agree:.1f}% of answers equal the trial's predictions.json."),
            "", "| question | predicted | gold | F1 |", "|---|---|---|---|",
        ]
        for s in self.samples:
            gold = " / ".join(dict.fromkeys(s.gold))
            lines.append(f"| {_cell(s.question)} | {_cell(s.prediction)} | {_cell(gold)} | {s.f1:.0f} |")
        return "\n".join(lines)


def _cell(text: str) -> str:
    return text.replace("|", "/").replace("\n", " ")


def data_config_for(manifest: Mapping[str, Any], override: DataConfig | None = None) -> DataConfig:
    """The data settings to re-evaluate a checkpoint with.

    Args:
        manifest: The checkpoint manifest (its ``data_config`` holds absolute data paths).
        override: Explicit settings; they win over the manifest's.

    Raises:
        DataConfigMissing: if neither is available.
    """
    if override is not None:
        return override
    recorded = manifest.get(DATA_CONFIG_KEY)
    if recorded:
        return DataConfig.from_dict(recorded)
    raise DataConfigMissing(
        f"the checkpoint of individual {manifest.get('indiv_id')} does not record its data settings "
        f"(manifest field {DATA_CONFIG_KEY!r}); pass them explicitly (report: --train/--dev/--train-limit/"
        f"--dev-limit/--max-passage-len/--glove or --data-config FILE)")


def load_model(save_dir: str | os.PathLike[str], data: Dataset) -> tuple[Any, dict[str, Any]]:
    """Rebuild a checkpoint's model and load all of its weights.

    Returns:
        ``(keras model, manifest)``.

    Raises:
        ga_squad.reader.checkpoint.CheckpointError: if the checkpoint does not fit
            the data (vocabulary fingerprint) or misses layers.
    """
    return restore_model(save_dir, len(data.word_vocab), len(data.char_vocab), data_fingerprint(data),
                         embeddings=data.embeddings)


def _questions(dev_path: str, qids: set[str]) -> dict[str, str]:
    return {ex.qid: ex.question for ex in read_squad(dev_path).examples if ex.qid in qids}


def reevaluate(
    save_dir: str | os.PathLike[str],
    data_config: DataConfig | None = None,
    *,
    data: Dataset | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    samples: int = 5,
) -> Reevaluation:
    """Reload the checkpoint in ``save_dir`` and score it on the dev set.

    Args:
        save_dir: The individual's folder.
        data_config: Data settings, when the manifest does not record them
            (see :func:`data_config_for`).
        data: A loaded dataset to use as is (skips loading).
        cache_dir: Dataset cache folder.
        samples: Predicted vs gold answers to keep (the first dev questions).

    Returns:
        The scores now and as reported, and a few sample answers.

    Raises:
        DataConfigMissing: if the data settings are unknown or their files are not found.
        ga_squad.reader.checkpoint.CheckpointError: if the checkpoint does not fit.
    """
    manifest = read_manifest(save_dir)
    if data is None:
        config = data_config_for(manifest, data_config)
        try:
            data = load_dataset(config, cache_dir)
        except FileNotFoundError as exc:  # not a failure to reproduce: the data is elsewhere
            raise DataConfigMissing(
                f"a data file of individual {manifest.get('indiv_id')} is not found ({exc.filename or exc}); "
                f"pass the files the search used (report: --train/--dev/--glove or --data-config FILE)") from None
    model, manifest = load_model(save_dir, data)
    train_cfg = TrainConfig.from_dict(manifest.get("train_config") or {})
    steps = make_steps(model, train_cfg)
    result = evaluate_split(steps, data.dev, train_cfg.eval_batch_size, train_cfg.max_answer_len)

    agree = None
    stored = Path(save_dir) / PREDICTIONS_NAME
    if stored.is_file():
        old = json.loads(stored.read_text(encoding="utf-8"))
        agree = sum(old.get(q) == a for q, a in result.predictions.items()) / max(len(result.predictions), 1)
    gold = data.dev.gold_answers()
    chosen = list(data.dev.qids[:samples])
    texts = _questions(data.config.dev_path, set(chosen)) if chosen else {}
    sample_rows = tuple(
        SamplePrediction(
            q, texts.get(q, ""), result.predictions.get(q, ""), tuple(gold[q]),
            100.0 * metric_max_over_ground_truths(exact_match_score, result.predictions.get(q, ""), gold[q]),
            100.0 * metric_max_over_ground_truths(f1_score, result.predictions.get(q, ""), gold[q]))
        for q in chosen)
    metrics = manifest.get("metrics") or {}

    def reported(key: str) -> float | None:
        value = metrics.get(key)
        return float(value) if isinstance(value, (int, float)) else None

    out = Reevaluation(
        indiv_id=int(manifest.get("indiv_id", -1)), save_dir=str(save_dir), data_config=data.config.to_dict(),
        questions=len(data.dev), em=result.em, f1=result.f1, dev_loss=result.loss,
        reported_em=reported("em"), reported_f1=reported("f1"), reported_dev_loss=reported("dev_loss"),
        predictions_agree=agree, samples=sample_rows)
    logger.info("individual %d re-evaluated: EM %.4f F1 %.4f (reported EM %s F1 %s)",
                out.indiv_id, out.em, out.f1, out.reported_em, out.reported_f1)
    return out

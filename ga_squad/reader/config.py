"""Model and training configuration: architecture options apart from optimiser options.

As in DrQA's ``reader/config.py``, the options that fix the *shape* of the
network (:class:`ModelConfig`) are kept apart from the options that only steer
optimisation (:class:`TrainConfig`). A child trial inherits its parent's
weights, so it must keep the parent's architecture options exactly (their
:meth:`ModelConfig.fingerprint` is stored in every checkpoint and checked on
warm start); optimiser options may change freely from one generation to the
next (:meth:`TrainConfig.override`).

This module imports no TensorFlow: the tuner can build and log configs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

from ga_squad.search.graph import canonical_hash

__all__ = ["MODEL_SIZES", "ModelConfig", "TrainConfig", "config_from_dict"]

_RNN_CELLS = ("gru", "lstm")


def config_from_dict(cls: type, data: Mapping[str, Any]) -> Any:
    """Build a config dataclass, rejecting unknown keys so typos fail loudly."""
    known = {f.name for f in fields(cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
    return cls(**data)


@dataclass(frozen=True)
class ModelConfig:
    """Architecture options shared by every layer of a reader.

    Every stream has width ``hidden``; a recurrent layer is bidirectional
    with ``hidden // 2`` units per direction, so its output is ``hidden``
    wide too, and any layer can feed any other of its stream.

    Attributes:
        word_dim: Word-embedding width (must equal the GloVe dimension when
            pre-trained vectors are used).
        char_dim: Character-embedding width.
        char_filters: Char-CNN filters (the char feature width per token).
        char_kernel: Char-CNN kernel width, in characters.
        hidden: Width of every stream (even, divisible by ``heads``).
        heads: Attention heads of attention and self-attention layers.
        dropout: Dropout rate after every layer (0 disables it).
        use_chars: Whether to add char-CNN features to word embeddings.
        rnn_cell: ``"gru"`` or ``"lstm"``.
    """

    word_dim: int = 50
    char_dim: int = 16
    char_filters: int = 32
    char_kernel: int = 3
    hidden: int = 64
    heads: int = 2
    dropout: float = 0.1
    use_chars: bool = True
    rnn_cell: str = "gru"

    def __post_init__(self) -> None:
        for name in ("word_dim", "char_dim", "char_filters", "char_kernel", "hidden", "heads"):
            if getattr(self, name) < 1:
                raise ValueError(f"ModelConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.hidden % 2:
            raise ValueError(f"ModelConfig.hidden must be even (two RNN directions), got {self.hidden}")
        if self.hidden % self.heads:
            raise ValueError(f"ModelConfig.hidden ({self.hidden}) must be divisible by heads ({self.heads})")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"ModelConfig.dropout must be in [0, 1), got {self.dropout}")
        if self.rnn_cell not in _RNN_CELLS:
            raise ValueError(f"ModelConfig.rnn_cell must be one of {_RNN_CELLS}, got {self.rnn_cell!r}")

    @classmethod
    def tiny(cls) -> ModelConfig:
        """Very small: unit tests and CI (seconds per epoch on a few hundred questions)."""
        return cls(word_dim=16, char_dim=8, char_filters=8, char_kernel=3, hidden=16, heads=2,
                   dropout=0.0, use_chars=True)

    @classmethod
    def small(cls) -> ModelConfig:
        """The bundled-sample search: fast on 2 CPU cores, still learns."""
        return cls(word_dim=50, char_dim=16, char_filters=32, char_kernel=3, hidden=64, heads=2,
                   dropout=0.1, use_chars=True)

    @classmethod
    def default(cls) -> ModelConfig:
        """Realistic size for full SQuAD (GloVe 100d, BiDAF-like widths)."""
        return cls(word_dim=100, char_dim=20, char_filters=100, char_kernel=5, hidden=128, heads=4,
                   dropout=0.2, use_chars=True)

    @classmethod
    def preset(cls, size: str) -> ModelConfig:
        """One of :data:`MODEL_SIZES` by name."""
        if size not in MODEL_SIZES:
            raise ValueError(f"unknown model size {size!r}; expected one of {list(MODEL_SIZES)}")
        return getattr(cls, size)()

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelConfig:
        return config_from_dict(cls, data)

    def fingerprint(self) -> str:
        """Hash of every architecture option: equal fingerprints, compatible weights."""
        return canonical_hash({"model_config": self.to_dict()})


MODEL_SIZES = ("tiny", "small", "default")


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser options; a child may take different ones from its parent.

    ``inherited_lr_scale``, ``start_competes`` and ``resume_optimizer`` are
    experiment knobs: the trial has no flag for them (it runs the defaults);
    the benchmarks that compare the alternatives set them here.

    Attributes:
        learning_rate: Adam learning rate of freshly initialised layers.
        inherited_lr_scale: Learning-rate multiplier for layers warm-started
            from the parent (e.g. 0.1 to fine-tune them gently); 1.0 trains
            everything alike with one optimizer.
        batch_size: Training questions per step.
        eval_batch_size: Dev questions per evaluation step.
        epochs: Maximum training epochs (0 only evaluates and publishes).
        patience: Stop after this many epochs in a row without an epoch
            better than the kept one by the search's fitness on the
            validation split.
        max_answer_len: Longest decoded answer span, in tokens.
        seed: Seed for initialisation and data order. A trial run through
            :func:`ga_squad.reader.training.run_trial` uses the contract's seed.
        clipnorm: Global gradient-norm clip (0 disables it).
        fix_embeddings: Keep pre-trained (GloVe) word vectors fixed. Random
            word embeddings (no GloVe) are always trained.
        mixed_precision: Compute in float16 with float32 variables, logits
            and loss (Keras ``mixed_float16``; worth it on GPUs with tensor
            cores, slower on CPUs). Opt-in.
        start_competes: Let the starting weights compete with the trained
            epochs for publication, so a child that only got worse on
            validation publishes its start unchanged. Off by default: on a
            small validation split a child's start is often its parent's
            luckiest evaluation, and republishing it hands the same lucky
            score to every descendant, so a lineage stops training (measured
            in docs/results.md, "What weight sharing buys", the search design
            table).
        resume_optimizer: A child resumes its parent's Adam state (moments
            and step count) for every variable it inherits unchanged, so its
            first steps continue the parent's training instead of restarting
            the optimizer (:mod:`ga_squad.reader.optimizer_state`). Off gives
            every trial a fresh Adam.
    """

    learning_rate: float = 1e-3
    inherited_lr_scale: float = 1.0
    batch_size: int = 32
    eval_batch_size: int = 64
    epochs: int = 3
    patience: int = 2
    max_answer_len: int = 15
    seed: int = 0
    clipnorm: float = 5.0
    fix_embeddings: bool = True
    mixed_precision: bool = False
    start_competes: bool = False
    resume_optimizer: bool = True

    def __post_init__(self) -> None:
        if self.learning_rate <= 0:
            raise ValueError(f"TrainConfig.learning_rate must be > 0, got {self.learning_rate}")
        if self.inherited_lr_scale < 0:
            raise ValueError(f"TrainConfig.inherited_lr_scale must be >= 0, got {self.inherited_lr_scale}")
        for name in ("batch_size", "eval_batch_size", "patience", "max_answer_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.epochs < 0:
            raise ValueError(f"TrainConfig.epochs must be >= 0, got {self.epochs}")
        if self.clipnorm < 0:
            raise ValueError(f"TrainConfig.clipnorm must be >= 0, got {self.clipnorm}")

    def override(self, **changes: Any) -> TrainConfig:
        """A copy with some optimiser options changed (DrQA's ``override_model_args``)."""
        return config_from_dict(TrainConfig, {**self.to_dict(), **changes})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TrainConfig:
        return config_from_dict(cls, data)

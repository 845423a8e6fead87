"""Keras blocks shared by the model compiler: input features, gates, BiDAF, pooling, pointers.

Same conventions as :mod:`ga_squad.reader.model`: masks travel as explicit
boolean arguments, padded keys never receive attention weight, padded
passage positions get a logit of :data:`NEG_INF`.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
from keras import ops

from ga_squad.reader.config import ModelConfig

__all__ = ["NEG_INF", "BidafBlock", "Block", "FeatureInputBlock", "Gate", "PointerBlock", "PoolBlock",
           "input_segments", "masked_softmax"]

NEG_INF = -1e30  # Logit of a padded passage position: softmax weight exactly 0.
_MASKED = -1e9   # Attention score of a padded key (finite: no NaN when a row is all padding).


class Block(keras.layers.Layer):
    """Base of every graph-node layer: masks travel as explicit arguments only.

    Inner Keras layers (RNN, dropout) attach implicit masks to their outputs;
    claiming mask support and computing ``None`` drops them, so no downstream
    layer picks up a stale mask or warns that it "destroys" one.
    """

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, *args: object, **kwargs: object) -> None:
        return None


def masked_softmax(scores, mask, axis: int = -1):
    """Softmax over ``axis`` with ``mask`` (broadcastable bool) positions at zero weight."""
    scores = ops.where(mask, scores, ops.full_like(scores, _MASKED))
    return ops.softmax(scores, axis=axis) * ops.cast(mask, scores.dtype)


def birnn(cfg: ModelConfig, cell: str | None, name: str = "birnn", dtype: object = None,
          width: int = 1) -> keras.layers.Layer:
    """Bidirectional GRU/LSTM with ``width * hidden // 2`` units per direction (``dtype``: a policy, default global)."""
    kind = cell or cfg.rnn_cell
    layer = keras.layers.GRU if kind == "gru" else keras.layers.LSTM
    return keras.layers.Bidirectional(layer(width * (cfg.hidden // 2), return_sequences=True, name=kind, dtype=dtype),
                                      name=name, dtype=dtype)


class Gate(Block):
    """A learned scalar gate, zero at birth: ``gate(x, f) = x + g * f`` (or ``g * f`` without ``x``).

    What makes a growing mutation function-preserving (Net2Net-style): a new
    residual branch or skip edge contributes nothing until training moves
    ``g``. ``g`` gets a gradient from the first step (``dL/dg = dL/dy . f``);
    the branch behind it does once ``g`` is no longer zero.
    """

    def build(self, *shapes: object) -> None:
        self.gate = self.add_weight(shape=(), initializer="zeros", name="gate")

    def call(self, f, x=None):
        scaled = ops.cast(self.gate, f.dtype) * f
        return scaled if x is None else x + scaled


def input_segments(rows: int, word_dim: int, columns: Sequence[int], aligned: bool) -> list[tuple[str, int]]:
    """Row blocks of an input projection's kernel (``rows`` in all): embedding, columns, aligned.

    A warm start maps an input layer's projection row block by row block when
    its features changed (:func:`ga_squad.reader.warm_start.load_shared`).
    """
    tail = [(f"column_{c}", 1) for c in columns] + ([("aligned", word_dim)] if aligned else [])
    return [("embedding", rows - sum(w for _, w in tail)), *tail]


class FeatureInputBlock(Block):
    """``input`` node with features: ``[embedding, feature columns, aligned] -> Dense(hidden)``.

    The aligned question embedding (DrQA) of passage token ``i`` is
    ``sum_j a_ij E(q_j)`` with ``a_ij = softmax_j(relu(W E(p_i)) . relu(W E(q_j)))``
    over the *word* embeddings ``E`` (the first ``word_dim`` columns).

    Args:
        cfg: Architecture options.
        columns: Indices of the data feature columns to use.
        aligned: Whether to add the aligned question embedding.
    """

    def __init__(self, cfg: ModelConfig, columns: Sequence[int] = (), aligned: bool = False,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.cfg = cfg
        self.columns = tuple(columns)
        self.aligned = aligned
        if aligned:
            self.align = keras.layers.Dense(cfg.word_dim, activation="relu", name="align")
        self.proj = keras.layers.Dense(cfg.hidden, name="proj")
        self.dropout = keras.layers.Dropout(cfg.dropout, name="dropout")

    def call(self, embedded, features=None, other=None, other_mask=None, training=None):
        parts = [embedded]
        if self.columns:
            parts.append(ops.take(features, list(self.columns), axis=-1))
        if self.aligned:
            words = embedded[..., : self.cfg.word_dim]
            other_words = other[..., : self.cfg.word_dim]
            scores = ops.matmul(self.align(words), ops.transpose(self.align(other_words), (0, 2, 1)))
            weights = masked_softmax(scores, ops.expand_dims(other_mask, 1))
            parts.append(ops.matmul(weights, other_words))
        x = ops.concatenate(parts, axis=-1) if len(parts) > 1 else embedded
        return self.dropout(self.proj(x), training=training)


class BidafBlock(Block):
    """``bidaf`` node: BiDAF's attention flow, ``[c, a, c*a, c*b]`` projected to ``hidden``.

    Similarity ``S_ij = w . [c_i; q_j; c_i * q_j]`` (computed as three
    terms), context-to-query ``a_i = sum_j softmax_j(S_ij) q_j``,
    query-to-context ``b = sum_i softmax_i(max_j S_ij) c_i`` (one vector,
    tiled over the context).
    """

    def __init__(self, cfg: ModelConfig, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.w_c = keras.layers.Dense(1, use_bias=False, name="w_c")
        self.w_q = keras.layers.Dense(1, use_bias=False, name="w_q")
        self.w_cq = keras.layers.Dense(cfg.hidden, use_bias=False, name="w_cq")  # diagonal would do; full is cheap
        self.fuse = keras.layers.Dense(cfg.hidden, name="fuse")
        self.dropout = keras.layers.Dropout(cfg.dropout, name="dropout")

    def call(self, c, q, c_mask, q_mask, training=None):
        s = (self.w_c(c) + ops.transpose(self.w_q(q), (0, 2, 1))
             + ops.matmul(self.w_cq(c), ops.transpose(q, (0, 2, 1))))  # [B, Lc, Lq]
        pair_mask = ops.logical_and(ops.expand_dims(c_mask, 2), ops.expand_dims(q_mask, 1))
        a = ops.matmul(masked_softmax(s, pair_mask), q)
        best = ops.max(ops.where(pair_mask, s, ops.full_like(s, _MASKED)), axis=2)  # [B, Lc]
        b_weights = masked_softmax(best, c_mask)
        b = ops.sum(ops.expand_dims(b_weights, -1) * c, axis=1, keepdims=True)  # [B, 1, H]
        fused = self.fuse(ops.concatenate([c, a, c * a, c * b], axis=-1))
        return self.dropout(fused, training=training)


class PoolBlock(Block):
    """``pool`` node: self-attentive summary ``sum_j softmax_j(w . q_j) q_j`` (DrQA's question vector)."""

    def __init__(self, cfg: ModelConfig, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.score = keras.layers.Dense(1, use_bias=False, name="score")

    def call(self, x, x_mask):
        weights = masked_softmax(ops.squeeze(self.score(x), -1), x_mask)
        return ops.sum(ops.expand_dims(weights, -1) * x, axis=1)  # [B, H]


class PointerBlock(Block):
    """``output`` node: one logit per passage position, padding at :data:`NEG_INF`.

    ``linear``: ``w . x_i``. ``bilinear``: ``x_i W q`` with ``q`` the
    question summary. ``conditioned`` (end only): the begin distribution
    ``p`` gives ``g = sum_i p_i x_i``; an extra BiRNN reads ``[x, x * g]``
    and ``w . [x_i, h_i]`` scores each position (BiDAF's ``M2`` in spirit).
    """

    def __init__(self, cfg: ModelConfig, kind: str = "linear", **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.kind = kind
        if kind == "bilinear":
            self.bilinear = keras.layers.Dense(cfg.hidden, use_bias=False, name="bilinear", dtype=self.dtype_policy)
        else:
            self.pointer = keras.layers.Dense(1, name="pointer", dtype=self.dtype_policy)
        if kind == "conditioned":
            self.rnn = birnn(cfg, None, name="birnn", dtype=self.dtype_policy)

    def build(self, x_shape: tuple, x_mask_shape: tuple | None = None, summary_shape: tuple | None = None,
              begin_logits_shape: tuple | None = None) -> None:
        """Weights from shapes alone: otherwise Keras traces ``call`` (a conditioned head's RNN loops) to build it."""
        if self.kind == "bilinear":
            self.bilinear.build(summary_shape)
            return
        if self.kind == "conditioned":
            rnn_in = (*x_shape[:-1], 2 * x_shape[-1])
            self.rnn.build(rnn_in)
            x_shape = (*x_shape[:-1], x_shape[-1] + self.rnn.compute_output_shape(rnn_in)[-1])
        self.pointer.build(x_shape)

    def compute_output_shape(self, x_shape: tuple, x_mask_shape: tuple | None = None,
                             summary_shape: tuple | None = None, begin_logits_shape: tuple | None = None) -> tuple:
        """One logit per position of ``x`` (spares a second trace of a conditioned head's RNN loops)."""
        return tuple(x_shape[:-1])

    def call(self, x, x_mask, summary=None, begin_logits=None, training=None):
        if self.kind == "bilinear":
            logits = ops.sum(x * ops.expand_dims(self.bilinear(summary), 1), axis=-1)
        elif self.kind == "conditioned":
            p = ops.softmax(begin_logits, axis=-1) * ops.cast(x_mask, x.dtype)
            g = ops.sum(ops.expand_dims(p, -1) * x, axis=1, keepdims=True)
            h = self.rnn(ops.concatenate([x, x * g], axis=-1), mask=x_mask, training=training)
            logits = ops.squeeze(self.pointer(ops.concatenate([x, h], axis=-1)), axis=-1)
        else:
            logits = ops.squeeze(self.pointer(x), axis=-1)
        return ops.where(x_mask, logits, ops.full_like(logits, NEG_INF))

"""Compile a reader :class:`~ga_squad.search.graph.Graph` into a Keras model.

Each graph node becomes one top-level Keras layer named ``f"{uid}_{type}"``
(its persistent identity, :attr:`ga_squad.search.graph.Layer.uid`; for
example ``3f2a..._rnn``), plus ``f"{uid}_residual"`` (the scalar gate of a
gated residual layer); the gate of a gated skip edge is a layer named
``f"{skip_gate_id}_skipgate"``; the word/char embeddings shared by both
streams are one layer named ``f"{EMBEDDING_HASH}_embedding"``. Every
variable path therefore starts with the weight id that owns it, and
warm-starting a child from its parent is a match on names
(:func:`weights_by_hash`): same identity, same weight shapes.
Sub-layers get fixed names so variable paths are identical in every process.

Padding is id 0 in every id array. Masks are passed explicitly (never through
Keras' implicit ``_keras_mask`` propagation) so every consumer of a sequence
masks it: recurrent layers skip padded steps, attention never attends to
padded keys, and the pointers give padded passage positions a logit of
:data:`NEG_INF`. Outputs at padded positions may hold anything; nothing reads
them.

Layer semantics follow the :mod:`ga_squad.search.graph` docstring:

* ``input``: shared word embedding (+ max-pooled char CNN) projected to
  ``hidden``.
* ``rnn``: bidirectional GRU/LSTM, ``width * hidden // 2`` units per
  direction; above width 1 a linear ``proj`` maps its ``width * hidden``
  outputs back to ``hidden``.
* ``self_attention``: ``LayerNorm(x + MHA(x, x))`` with key padding masked.
* ``attention``: ``x`` attends to the memory ``m``; ``a = MHA(x, m)`` and the
  output is ``LayerNorm(x + Dense([x, a, x * a]))`` (the BiDAF-style fusion).
* ``output``: ``Dense(1)`` per passage position, padding set to ``NEG_INF``.
* skip edges: the outputs of ``skips`` are summed into ``inputs[0]`` before the
  layer is applied; a gated skip is scaled by its gate (zero at birth).
* ``residual``: the layer's output is ``x + g * f(x)`` with ``x`` its first
  input plus skips and ``g`` a scalar gate, zero at birth (an inserted layer
  starts as the identity map).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence

import keras
import numpy as np
from keras import ops

from ga_squad.reader.config import ModelConfig
from ga_squad.reader.layers import NEG_INF, BidafBlock, Block, FeatureInputBlock, Gate, PointerBlock, PoolBlock, birnn
from ga_squad.search.graph import EMBEDDING_HASH, HASH_LENGTH, Graph, GraphError, LayerType
from ga_squad.search.vocabulary import COLUMN_FEATURES, FEATURE_COLUMNS, feature_columns

__all__ = [
    "INPUT_KEYS",
    "NEG_INF",
    "AttentionBlock",
    "Embedder",
    "InputBlock",
    "RnnBlock",
    "SelfAttentionBlock",
    "build_model",
    "check_features",
    "count_params",
    "hash_of_layer",
    "model_inputs",
    "weights_by_hash",
]

logger = logging.getLogger(__name__)

INPUT_KEYS = ("question_words", "question_chars", "passage_words", "passage_chars",
              "question_features", "passage_features")
_HASH_PREFIX = re.compile(rf"^([0-9a-f]{{{HASH_LENGTH}}})_")


# --- layers -------------------------------------------------------------------
InputBlock = FeatureInputBlock  # an input without features is a projection of its embedding


class Embedder(Block):
    """Word embedding plus max-pooled char-CNN features, shared by both streams.

    Args:
        vocab_size: Rows of the word table (id 0 is padding).
        char_vocab_size: Rows of the char table (id 0 is padding).
        cfg: Architecture options (widths, ``use_chars``).
        word_trainable: Whether the word table is trained (False keeps
            pre-trained vectors fixed).
    """

    def __init__(self, vocab_size: int, char_vocab_size: int, cfg: ModelConfig,
                 word_trainable: bool = True, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.cfg = cfg
        self.word_embedding = keras.layers.Embedding(
            vocab_size, cfg.word_dim, embeddings_initializer=keras.initializers.RandomNormal(stddev=0.1),
            trainable=word_trainable, name="word_embedding")
        if cfg.use_chars:
            self.char_embedding = keras.layers.Embedding(
                char_vocab_size, cfg.char_dim, name="char_embedding")
            # A (1, k) 2-D convolution over [B, L, W, C] is a 1-D convolution
            # over each token's characters without a dynamic reshape.
            self.char_conv = keras.layers.Conv2D(
                cfg.char_filters, (1, cfg.char_kernel), padding="same", activation="relu",
                name="char_conv")

    def call(self, words, chars):
        out = self.word_embedding(words)
        if self.cfg.use_chars:
            char_mask = ops.expand_dims(ops.cast(ops.not_equal(chars, 0), out.dtype), -1)
            feats = self.char_conv(self.char_embedding(chars)) * char_mask
            # ReLU features are >= 0, so zeroed padding never wins the max.
            out = ops.concatenate([out, ops.max(feats, axis=2)], axis=-1)
        return out


class RnnBlock(Block):
    """``rnn`` node: bidirectional GRU/LSTM over the unpadded steps (``cell`` None: the config's).

    A ``width`` above 1 multiplies the units and adds a linear projection
    back to ``hidden``, so the stream keeps its width (and a Net2Wider warm
    start can widen a trained layer exactly).
    """

    def __init__(self, cfg: ModelConfig, cell: str | None = None, width: int = 1, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.hidden = cfg.hidden
        self.birnn = birnn(cfg, cell, width=width)
        self.proj = keras.layers.Dense(cfg.hidden, name="proj") if width > 1 else None
        self.dropout = keras.layers.Dropout(cfg.dropout, name="dropout")

    def build(self, x_shape: tuple, x_mask_shape: tuple | None = None) -> None:
        """Weights from shapes alone: otherwise Keras traces ``call`` (both RNN loops) to build the block."""
        self.birnn.build(x_shape)
        if self.proj is not None:
            self.proj.build(self.birnn.compute_output_shape(x_shape))

    def compute_output_shape(self, x_shape: tuple, x_mask_shape: tuple | None = None) -> tuple:
        """``x``'s shape at ``hidden`` wide (spares a second trace of the RNN loops in a functional model)."""
        return (*x_shape[:-1], self.hidden)

    def call(self, x, x_mask, training=None):
        h = self.birnn(x, mask=x_mask, training=training)
        if self.proj is not None:
            h = self.proj(h)
        return self.dropout(h, training=training)


class SelfAttentionBlock(Block):
    """``self_attention`` node: residual multi-head self-attention."""

    def __init__(self, cfg: ModelConfig, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.mha = keras.layers.MultiHeadAttention(cfg.heads, cfg.hidden // cfg.heads, name="mha")
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.dropout = keras.layers.Dropout(cfg.dropout, name="dropout")

    def call(self, x, x_mask, training=None):
        attention_mask = ops.logical_and(ops.expand_dims(x_mask, 2), ops.expand_dims(x_mask, 1))
        attended = self.mha(x, x, attention_mask=attention_mask, training=training)
        return self.norm(x + self.dropout(attended, training=training))


class AttentionBlock(Block):
    """``attention`` node: ``x`` attends to ``memory``; output on ``x``'s stream."""

    def __init__(self, cfg: ModelConfig, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.mha = keras.layers.MultiHeadAttention(cfg.heads, cfg.hidden // cfg.heads, name="mha")
        self.fuse = keras.layers.Dense(cfg.hidden, activation="relu", name="fuse")
        self.norm = keras.layers.LayerNormalization(name="norm")
        self.dropout = keras.layers.Dropout(cfg.dropout, name="dropout")

    def call(self, x, memory, x_mask, memory_mask, training=None):
        attention_mask = ops.logical_and(ops.expand_dims(x_mask, 2), ops.expand_dims(memory_mask, 1))
        attended = self.mha(x, memory, attention_mask=attention_mask, training=training)
        fused = self.fuse(ops.concatenate([x, attended, x * attended], axis=-1))
        return self.norm(x + self.dropout(fused, training=training))


# --- building -----------------------------------------------------------------
def model_inputs() -> dict[str, keras.KerasTensor]:
    """Symbolic int32 inputs with free batch and sequence widths."""
    return {
        "question_words": keras.Input((None,), dtype="int32", name="question_words"),
        "question_chars": keras.Input((None, None), dtype="int32", name="question_chars"),
        "passage_words": keras.Input((None,), dtype="int32", name="passage_words"),
        "passage_chars": keras.Input((None, None), dtype="int32", name="passage_chars"),
        "question_features": keras.Input((None, len(FEATURE_COLUMNS)), dtype="float32", name="question_features"),
        "passage_features": keras.Input((None, len(FEATURE_COLUMNS)), dtype="float32", name="passage_features"),
    }


def check_features(graph: Graph, available: Sequence[str]) -> None:
    """Every column feature the graph's inputs use must be among the data's columns.

    Raises:
        GraphError: naming the input layer and the missing feature.
    """
    have = set(available)
    for name in ("question", "passage"):
        for feature in graph[name].features:
            missing = [c for c in COLUMN_FEATURES.get(feature, ()) if c not in have]
            if missing:
                raise GraphError(
                    f"input {name!r} uses feature {feature!r}, but the data was not prepared with "
                    f"column(s) {missing} (it has {sorted(have) or 'none'})")


def build_model(
    graph: Graph,
    cfg: ModelConfig,
    vocab_size: int,
    char_vocab_size: int,
    embeddings: np.ndarray | None = None,
    fix_embeddings: bool = True,
    data_features: Sequence[str] = FEATURE_COLUMNS,
) -> keras.Model:
    """Compile ``graph`` into a functional Keras model.

    Args:
        graph: The reader architecture.
        cfg: Architecture options.
        vocab_size: Word vocabulary size.
        char_vocab_size: Char vocabulary size.
        embeddings: ``[vocab_size, cfg.word_dim]`` pre-trained word vectors
            (GloVe rows; the word table starts as an exact copy), or None for
            random vectors.
        fix_embeddings: Keep pre-trained vectors fixed (ignored without
            ``embeddings``: random vectors must be trained).
        data_features: The feature columns the data was prepared with
            (``SquadArrays.feature_names``).

    Returns:
        A model mapping the dict of :data:`INPUT_KEYS` arrays to
        ``{"begin": [B, Lp], "end": [B, Lp]}`` logits.

    Raises:
        ValueError: if the embedding matrix does not fit the vocabulary or
            ``cfg.word_dim``.
        GraphError: if an input uses a feature the data lacks.
    """
    if embeddings is not None and tuple(embeddings.shape) != (vocab_size, cfg.word_dim):
        raise ValueError(
            f"embedding matrix has shape {tuple(embeddings.shape)}, expected "
            f"({vocab_size}, {cfg.word_dim}) = (vocab_size, ModelConfig.word_dim)")
    check_features(graph, data_features)
    inputs = model_inputs()
    masks = {
        "question": ops.not_equal(inputs["question_words"], 0),
        "passage": ops.not_equal(inputs["passage_words"], 0),
    }
    embedder = Embedder(vocab_size, char_vocab_size, cfg,
                        word_trainable=embeddings is None or not fix_embeddings,
                        name=f"{EMBEDDING_HASH}_embedding")
    embedded = {s: embedder(inputs[f"{s}_words"], inputs[f"{s}_chars"]) for s in ("question", "passage")}
    outputs: dict[str, keras.KerasTensor] = {}
    # Pointers last, begin before end: a conditioned end reads the begin logits.
    order = [i for i in graph.topological_order if i not in ("begin", "end")] + ["begin", "end"]
    for layer_id in order:
        layer = graph[layer_id]
        h = graph.uid(layer_id)
        name = f"{h}_{layer.type.value}"
        mask = masks.get(layer.stream.value)
        if layer.type is LayerType.INPUT:
            s = layer.stream.value
            other = "question" if s == "passage" else "passage"
            block = InputBlock(cfg, feature_columns(layer.features), "aligned" in layer.features, name=name)
            outputs[layer_id] = block(embedded[s], inputs[f"{s}_features"], embedded[other], masks[other])
            continue
        x = outputs[layer.inputs[0]]
        if layer.skips:
            terms = [Gate(name=f"{graph.skip_gate_id(layer_id, s)}_skipgate")(outputs[s])
                     if s in layer.gated_skips else outputs[s] for s in layer.skips]
            x = keras.layers.Add(name=f"{h}_skips")([x, *terms])
        if layer.type is LayerType.RNN:
            outputs[layer_id] = RnnBlock(cfg, layer.cell, layer.width, name=name)(x, mask)
        elif layer.type is LayerType.SELF_ATTENTION:
            outputs[layer_id] = SelfAttentionBlock(cfg, name=name)(x, mask)
        elif layer.type in (LayerType.ATTENTION, LayerType.BIDAF):
            memory = graph[layer.inputs[1]]
            block = AttentionBlock if layer.type is LayerType.ATTENTION else BidafBlock
            outputs[layer_id] = block(cfg, name=name)(x, outputs[memory.id], mask, masks[memory.stream.value])
        elif layer.type is LayerType.POOL:
            outputs[layer_id] = PoolBlock(cfg, name=name)(x, masks[graph[layer.inputs[0]].stream.value])
        elif layer.type is LayerType.OUTPUT:
            summary = outputs[layer.inputs[1]] if len(layer.inputs) > 1 else None
            begin = outputs["begin"] if layer.pointer == "conditioned" else None
            # float32 even under mixed precision: NEG_INF and the loss need float32 logits.
            outputs[layer_id] = PointerBlock(cfg, layer.pointer, name=name, dtype="float32")(x, mask, summary, begin)
        else:  # pragma: no cover - the graph validates its layer types
            raise ValueError(f"layer {layer_id!r}: unsupported type {layer.type}")
        if layer.residual:
            outputs[layer_id] = Gate(name=f"{h}_residual")(outputs[layer_id], x)
    model = keras.Model(inputs=inputs, outputs={"begin": outputs["begin"], "end": outputs["end"]},
                        name=f"reader_{graph.fingerprint()}")
    if embeddings is not None:
        embedder.word_embedding.embeddings.assign(np.asarray(embeddings, dtype="float32"))
    return model


# --- weights by hash id --------------------------------------------------------
def hash_of_layer(name: str) -> str | None:
    """The weight id (a uid, a skip gate's id or the embeddings') a layer name starts with, or None."""
    match = _HASH_PREFIX.match(name)
    return match.group(1) if match else None


def weights_by_hash(model: keras.Model) -> dict[str, list[keras.Variable]]:
    """The model's variables grouped by the weight id owning them (a layer's uid, a skip gate's id).

    Trainable and non-trainable variables are both included (a fixed GloVe
    table is still inherited).

    Raises:
        ValueError: if a layer with weights is not named after a hash id
            (its weights could never be shared, silently).
    """
    groups: dict[str, list[keras.Variable]] = {}
    for layer in model.layers:
        h = hash_of_layer(layer.name)
        if h is None:
            if layer.weights:
                raise ValueError(f"layer {layer.name!r} has weights but no hash-id name")
            continue
        groups.setdefault(h, []).extend(layer.weights)
    return groups


def count_params(variables: Sequence[keras.Variable] | Mapping[str, Sequence[keras.Variable]]) -> int:
    """Number of scalars in a list of variables (or in every group of a mapping)."""
    if isinstance(variables, Mapping):
        return sum(count_params(v) for v in variables.values())
    return int(sum(int(np.prod(v.shape)) for v in variables))

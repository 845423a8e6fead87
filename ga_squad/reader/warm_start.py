"""Warm-starting a child from its parent's published checkpoint (Lamarckian inheritance).

The child is built fresh; :func:`load_shared` then overwrites the layers it
shares with its parent (by layer identity, see
:meth:`ga_squad.search.graph.Graph.shared_ids`) with the parent's trained
weights, read through :func:`ga_squad.reader.checkpoint.read_checkpoint_state`,
together with the parent's Adam state for every variable loaded unchanged.
Layers whose attributes changed in a function-preserving way (an input layer
that gained or lost a feature, a pointer turned conditioned) are loaded row
block by row block, new rows at zero, so the child starts computing its
parent's function; a recurrent layer whose width changed is resized by
Net2Wider (:mod:`ga_squad.reader.net2wider`).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np

from ga_squad.reader.checkpoint import CheckpointCorrupt, CheckpointError, read_checkpoint_state
from ga_squad.reader.optimizer_state import Moments
from ga_squad.reader.layers import input_segments
from ga_squad.reader.model import count_params, weights_by_hash
from ga_squad.reader.net2wider import resize_birnn
from ga_squad.search.graph import Graph, GraphError, LayerType
from ga_squad.search.vocabulary import feature_columns

__all__ = ["WarmStartReport", "load_shared"]

logger = logging.getLogger(__name__)

_READ_ATTEMPTS = 2  # a reader racing a prune or a superseded version's removal retries once
_RETRY_DELAY_S = 0.2


@dataclass(frozen=True)
class WarmStartReport:
    """What a warm start did.

    Attributes:
        warm_start: Whether any weights came from the parent checkpoint.
        inherited_params: Scalars loaded from the parent.
        fresh_params: Scalars left at their fresh initialisation.
        loaded_ids: Hash ids loaded (sorted).
        missing_ids: Requested ids the model has but the checkpoint lacks (sorted).
        reason: Why nothing was loaded, for a cold start ("" otherwise).
        optimizer: The parent's Adam state of the variables loaded unchanged
            (by variable path), for the child's optimizer to resume; empty
            when the parent published none.
    """

    warm_start: bool
    inherited_params: int
    fresh_params: int
    loaded_ids: tuple[str, ...]
    missing_ids: tuple[str, ...]
    reason: str = ""
    optimizer: Mapping[str, Moments] = field(default_factory=dict, repr=False)


def _read_with_retry(
    restore_dir: str | os.PathLike[str], ids: Collection[str]
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], dict[str, dict[str, Moments]]]:
    for attempt in range(_READ_ATTEMPTS):
        try:
            return read_checkpoint_state(restore_dir, ids)
        except CheckpointCorrupt:
            if attempt + 1 == _READ_ATTEMPTS:
                raise
            time.sleep(_RETRY_DELAY_S)
    raise AssertionError("unreachable")


def load_shared(
    model: keras.Model,
    restore_dir: str | os.PathLike[str],
    shared_ids: Collection[str],
    *,
    data_fingerprint: str | None = None,
    model_fingerprint: str | None = None,
    graph: Graph | None = None,
) -> WarmStartReport:
    """Load the layers in ``shared_ids`` from the parent's checkpoint.

    Nothing is assigned until every requested array has been read and
    checked, so an error never leaves a half-loaded model.

    Args:
        model: The child, freshly built (its non-shared layers keep their
            fresh initialisation).
        restore_dir: The parent's ``save_dir``.
        shared_ids: Weight hash ids to inherit.
        data_fingerprint: If given, must equal the parent's (same vocabulary,
            so embedding rows mean the same words).
        model_fingerprint: If given, must equal the parent's architecture
            options fingerprint.
        graph: The child's graph. With it, an input layer whose features
            changed is inherited row block by row block: its projection keeps
            the rows of the features both have, a new feature's rows start at
            zero (the child computes its parent's function), a dropped
            feature's rows are dropped; its other variables load where names
            and shapes match.

    Returns:
        What was loaded. A missing or damaged parent checkpoint gives a
        cold-start report (``warm_start=False``) and a WARNING.

    Raises:
        CheckpointError: if the checkpoint is incompatible: other data or
            architecture fingerprint, or a shared layer whose variables differ
            in name or shape (the message names the layer and the shapes).
    """
    groups = weights_by_hash(model)
    total = count_params(groups)
    wanted = set(shared_ids)
    unknown = sorted(wanted - set(groups))
    if unknown:
        logger.warning("shared ids %s are not layers of this model; ignored", unknown)
    wanted &= set(groups)
    try:
        manifest, arrays, moments = _read_with_retry(restore_dir, wanted)
        remaps, resized = _remaps(graph, manifest)  # a damaged parent graph is a damaged checkpoint
    except CheckpointCorrupt as exc:
        logger.warning("cold start: parent checkpoint unusable (%s)", exc)
        return WarmStartReport(False, 0, total, (), tuple(sorted(wanted)), reason=str(exc))
    for what, mine, key in (("data/vocabulary", data_fingerprint, "data_fingerprint"),
                            ("model config", model_fingerprint, "model_fingerprint")):
        if mine is not None and manifest.get(key) != mine:
            raise CheckpointError(
                f"parent checkpoint in {restore_dir} has {what} fingerprint {manifest.get(key)!r}, "
                f"this trial has {mine!r}: its weights do not fit this trial")
    assignments: list[tuple[keras.Variable, np.ndarray]] = []
    resumed: dict[str, Moments] = {}  # optimizer state of the variables loaded unchanged
    remapped = 0  # scalars set in layers loaded by parts (rows mapped, units resized)
    for h in sorted(wanted & set(arrays)):
        stored = arrays[h]
        if h in remaps:
            pairs, copied = _remapped_input(h, groups[h], stored, *remaps[h])
            assignments.extend(pairs)
            remapped += copied
            continue
        if h in resized:
            pairs, copied = _resized_rnn(h, groups[h], stored)
            assignments.extend(pairs)
            remapped += copied
            continue
        mine_paths = {v.path for v in groups[h]}
        if set(stored) != mine_paths:
            raise CheckpointError(
                f"layer {h}: checkpoint variables {sorted(set(stored) - mine_paths)} / model variables "
                f"{sorted(mine_paths - set(stored))} do not match")
        for var in groups[h]:
            value = stored[var.path]
            if tuple(value.shape) != tuple(var.shape):
                raise CheckpointError(
                    f"layer {h}: variable {var.path} has shape {tuple(value.shape)} in the checkpoint "
                    f"but {tuple(var.shape)} in the model")
            assignments.append((var, value))
            state = moments.get(h, {}).get(var.path)
            if var.trainable and state is not None:  # shapes are checked once, by optimizer_groups
                resumed[var.path] = state
    for var, value in assignments:
        var.assign(value.astype(var.dtype, copy=False))
    loaded = tuple(sorted(wanted & set(arrays)))
    missing = tuple(sorted(wanted - set(arrays)))
    if missing:
        logger.warning("parent checkpoint lacks shared layer(s) %s; initialised fresh", list(missing))
    inherited = sum(count_params(groups[h]) for h in loaded if h not in remaps and h not in resized) + remapped
    logger.info("warm start from %s: %d/%d layers, %d of %d parameters inherited, optimizer state of %d "
                "variables resumed", restore_dir, len(loaded), len(groups), inherited, total, len(resumed))
    return WarmStartReport(bool(loaded), inherited, total - inherited, loaded, missing, optimizer=resumed)


def _remaps(graph: Graph | None, manifest: Mapping[str, Any]
            ) -> tuple[dict[str, tuple[tuple, tuple, int]], set[str]]:
    """Layers loaded by parts, not whole: ``(rows, resized)``.

    ``rows``: uid -> (parent's, child's attributes, word_dim) of layers loaded
    by rows: input layers whose features differ; pointers turned from linear
    into conditioned or back (attributes: the pointer kind). ``resized``:
    uids of recurrent layers whose width differs.
    """
    if graph is None or "graph" not in manifest:
        return {}, set()
    try:
        parent = Graph.from_dict(manifest["graph"])
    except GraphError as exc:
        raise CheckpointCorrupt(f"parent manifest holds an unreadable graph: {exc}") from None
    model_config = manifest.get("model_config", {})
    try:
        word_dim = int(model_config.get("word_dim", 0))
    except (AttributeError, TypeError, ValueError):
        raise CheckpointCorrupt(f"parent manifest holds an unreadable model_config: {model_config!r:.80}") from None
    before = {l.uid: l for l in parent.layers}
    rows, resized = {}, set()
    for layer in graph.layers:
        old = before.get(layer.uid)
        if old is None or old.type is not layer.type:
            continue
        if layer.type is LayerType.INPUT and old.features != layer.features:
            rows[layer.uid] = (old.features, layer.features, word_dim)
        elif layer.type is LayerType.OUTPUT and old.pointer != layer.pointer:
            rows[layer.uid] = ((old.pointer,), (layer.pointer,), word_dim)
        elif layer.type is LayerType.RNN and old.width != layer.width:
            resized.add(layer.uid)
    return rows, resized


def _resized_rnn(h: str, variables: list[keras.Variable], stored: Mapping[str, np.ndarray]
                 ) -> tuple[list[tuple[keras.Variable, np.ndarray]], int]:
    """Assignments for a recurrent layer whose width changed (Net2Wider), and the scalars set from the parent."""
    try:
        # Seeded by the layer's identity: a replayed child gets the same shares.
        arrays = resize_birnn(stored, {v.path: tuple(v.shape) for v in variables}, seed=int(h, 16) % 2**32)
    except ValueError as exc:
        raise CheckpointError(f"layer {h}: cannot resize the recurrent layer: {exc}") from None
    pairs = [(v, arrays[v.path]) for v in variables]
    return pairs, sum(a.size for _, a in pairs)


def _remapped_input(h: str, variables: list[keras.Variable], stored: Mapping[str, np.ndarray],
                    old: tuple[str, ...], new: tuple[str, ...], word_dim: int
                    ) -> tuple[list[tuple[keras.Variable, np.ndarray]], int]:
    """Assignments for a layer loaded by rows (see :func:`_remaps`), and the scalars copied."""
    out, copied = [], 0
    for var in variables:
        value = stored.get(var.path)
        if var.path.endswith("/pointer/kernel") and value is not None:
            # A conditioned pointer scores [x, h]: x's rows are the linear pointer's, h's start at zero.
            rows = min(value.shape[0], int(var.shape[0]))
            merged = np.zeros(tuple(var.shape), value.dtype)
            merged[:rows] = value[:rows]
            out.append((var, merged))
            copied += rows * value.shape[1]
        elif var.path.endswith("/proj/kernel") and value is not None:
            parts, starts, at = {}, {}, 0
            for name, w in input_segments(value.shape[0], word_dim, feature_columns(old), "aligned" in old):
                parts[name], starts[name], at = w, at, at + w
            rows = []
            for name, w in input_segments(int(var.shape[0]), word_dim, feature_columns(new), "aligned" in new):
                if name in parts and parts[name] == w:
                    rows.append(value[starts[name]:starts[name] + w])
                    copied += rows[-1].size
                else:
                    rows.append(np.zeros((w, value.shape[1]), value.dtype))
            merged = np.concatenate(rows, axis=0)
            if merged.shape != tuple(var.shape):
                raise CheckpointError(f"layer {h}: cannot map projection {value.shape} onto {tuple(var.shape)}")
            out.append((var, merged))
        elif value is not None and tuple(value.shape) == tuple(var.shape):
            out.append((var, value))
            copied += value.size
    return out, copied

"""Per-layer checkpoints of a trained individual, published atomically.

Layout (:func:`checkpoint_dir` is the one place that knows it)::

    <save_dir>/checkpoint/manifest.json   what the checkpoint holds (written last)
    <save_dir>/checkpoint/weights.h5      /<hash_id>/<variable path>  float datasets

``weights.h5`` has one HDF5 group per weight hash id (the graph node that owns
the weights, or :data:`~ga_squad.search.graph.EMBEDDING_HASH` for the shared
embeddings) holding one dataset per variable, keyed by its Keras variable path
(e.g. ``/3f2a.../3f2a..._rnn/birnn/forward_gru/gru_cell/kernel``); paths are
fixed by the layer names in :mod:`ga_squad.reader.model`, so they are equal in every
process. The manifest records identity, graph, parameter counts per hash id,
metrics, the architecture and data fingerprints that make weights compatible,
and the size and sha256 of ``weights.h5`` (so a truncated or swapped file is
detected, not trusted).

**Frozen arrays stored once.** Given an ``embedding_store``, non-trainable
variables (the fixed GloVe table) are not written into ``weights.h5`` but
stored once per content in :mod:`ga_squad.reader.embedding_store`; the
manifest's ``external`` list names each one (hash id, variable path, file
relative to the checkpoint directory, sha256, shape). Readers load them as if
they were in ``weights.h5``. Version-1 checkpoints (everything inside
``weights.h5``, no ``external``) still load.

**Atomic publish.** Everything is written into a private temporary sibling
directory, each file fsynced, then published through
:func:`ga_squad.search.checkpoint_store.publishing`: the directory becomes a
new version and the ``checkpoint`` pointer (a symlink) is replaced atomically,
so a reader always sees either no checkpoint or a complete one, also during a
re-publish. A reader that finds the pointer missing or dangling (a kill
between two steps) uses the newest complete version. Leftovers of killed
publishes are removed by ownership (pid/host/lease in their names), never by
age alone.

**Weight ids.** Groups are keyed by *weight id*: a layer's persistent uid
(graph version 3), a gated skip's gate id, or the embeddings' fixed id.
Checkpoints of graph versions 1/2 are keyed by hash id, which is exactly
the uid such a graph's layers get when loaded, so they load unchanged. The
manifest records, per layer, both its uid and its hash id (``layer_ids``).

**Warm start.** :func:`load_shared` loads exactly the shared weight ids and leaves
every other layer at its fresh initialisation. A parent checkpoint that is
missing or damaged degrades to a cold start with a warning (a child must never
crash-loop on its parent's bad luck); an *incompatible* one (other vocabulary,
other architecture options, different shapes) is a configuration bug and
raises :class:`CheckpointError` naming the layer.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
import time
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from ga_squad.files import file_digest, fsync_path
from ga_squad.search import checkpoint_store
from ga_squad.reader.embedding_store import StoreError, load_array, store_array
from ga_squad.reader.layers import input_segments
from ga_squad.search.graph import Graph, GraphError, LayerType
from ga_squad.search.vocabulary import feature_columns
from ga_squad.reader.model import count_params, weights_by_hash

__all__ = [
    "FORMAT_VERSION",
    "CheckpointCorrupt",
    "CheckpointError",
    "WarmStartReport",
    "checkpoint_dir",
    "load_shared",
    "publish_checkpoint",
    "read_checkpoint",
    "read_manifest",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2  # 2: frozen arrays may live in the embedding store ("external")
_READABLE_VERSIONS = (1, 2)
CHECKPOINT_NAME = checkpoint_store.CHECKPOINT_NAME
MANIFEST_NAME = checkpoint_store.MANIFEST_NAME
WEIGHTS_NAME = "weights.h5"
_READ_ATTEMPTS = 2  # a reader racing a prune or a superseded version's removal retries once
_RETRY_DELAY_S = 0.2


class CheckpointError(RuntimeError):
    """A checkpoint is incompatible with the model asking for it (configuration bug)."""


class CheckpointCorrupt(CheckpointError):
    """A checkpoint is missing, incomplete or damaged (the child cold-starts)."""


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
    """

    warm_start: bool
    inherited_params: int
    fresh_params: int
    loaded_ids: tuple[str, ...]
    missing_ids: tuple[str, ...]
    reason: str = ""


def checkpoint_dir(save_dir: str | os.PathLike[str]) -> Path:
    """Where the published checkpoint of the individual owning ``save_dir`` lives."""
    return Path(save_dir) / CHECKPOINT_NAME


# --- writing --------------------------------------------------------------------
def _write_weights(path: Path, groups: Mapping[str, list[keras.Variable]],
                   external: Collection[str] = ()) -> dict[str, int]:
    counts: dict[str, int] = {}
    with h5py.File(path, "w") as f:
        f.attrs["format_version"] = FORMAT_VERSION
        for h in sorted(groups):
            group = f.create_group(h)
            seen: set[str] = set()
            for var in groups[h]:
                if var.path in seen:
                    raise CheckpointError(f"two variables share the path {var.path!r} in layer {h}")
                seen.add(var.path)
                if var.path not in external:
                    group.create_dataset(var.path, data=np.asarray(var.numpy()))
            counts[h] = count_params(groups[h])
            group.attrs["param_count"] = counts[h]
        f.flush()
    fsync_path(path)
    return counts


def _store_frozen(groups: Mapping[str, list[keras.Variable]], store: str | os.PathLike[str],
                  final: Path) -> list[dict[str, Any]]:
    """Put every non-trainable variable into the embedding store; manifest entries for them."""
    entries = []
    for h in sorted(groups):
        for var in groups[h]:
            if var.trainable:
                continue
            path, sha = store_array(store, np.asarray(var.numpy()))
            entries.append({"hash_id": h, "path": var.path, "file": os.path.relpath(path, final),
                            "sha256": sha, "shape": list(var.shape), "dtype": str(var.dtype)})
    return entries


def _write_json(path: Path, obj: Any) -> None:
    with path.open("w", encoding="utf-8") as f:
        json.dump(obj, f, indent=1, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())


def publish_checkpoint(
    model: keras.Model,
    save_dir: str | os.PathLike[str],
    *,
    indiv_id: int,
    parent_id: int | None,
    graph: Graph,
    model_config: Mapping[str, Any],
    model_fingerprint: str,
    data_fingerprint: str,
    metrics: Mapping[str, Any],
    extra: Mapping[str, Any] | None = None,
    embedding_store: str | os.PathLike[str] | None = None,
) -> Path:
    """Write the model's weights per hash id plus a manifest, atomically.

    Args:
        model: A model built by :func:`ga_squad.reader.model.build_model`.
        save_dir: The individual's directory (created if needed).
        indiv_id: This individual's id.
        parent_id: Its parent's id, or None.
        graph: Its architecture.
        model_config: ``ModelConfig.to_dict()``.
        model_fingerprint: ``ModelConfig.fingerprint()``.
        data_fingerprint: Fingerprint of the vocabularies the embedding rows
            refer to (:func:`ga_squad.reader.training.data_fingerprint`).
        metrics: The trial's result (F1, EM, losses...), JSON-serialisable.
        extra: More JSON-serialisable fields (train config, timings...).
        embedding_store: Folder shared by the checkpoints of a search where
            non-trainable variables (the fixed GloVe table) are stored once
            by content; None writes them into ``weights.h5``.

    Returns:
        The published checkpoint directory.
    """
    final = checkpoint_dir(save_dir)
    groups = weights_by_hash(model)
    external = [] if embedding_store is None else _store_frozen(groups, embedding_store, final)
    with checkpoint_store.publishing(save_dir) as tmp:
        weights_path = tmp / WEIGHTS_NAME
        counts = _write_weights(weights_path, groups, {e["path"] for e in external})
        manifest = {
            "format_version": FORMAT_VERSION,
            "indiv_id": indiv_id,
            "parent_id": parent_id,
            "graph": graph.to_dict(),
            "graph_fingerprint": graph.fingerprint(),
            "hash_ids": sorted(groups),  # the weight ids (named so since version 1)
            "layer_ids": {i: {"uid": graph.uid(i), "hash_id": graph.hash_id(i)} for i in graph.topological_order},
            "param_counts": counts,
            "total_params": sum(counts.values()),
            "metrics": dict(metrics),
            "model_config": dict(model_config),
            "model_fingerprint": model_fingerprint,
            "data_fingerprint": data_fingerprint,
            "weights": {"file": WEIGHTS_NAME, "bytes": weights_path.stat().st_size,
                        "sha256": file_digest(weights_path)},
            "external": external,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "versions": {"keras": keras.__version__, "h5py": h5py.__version__},
            **(dict(extra) if extra else {}),
        }
        _write_json(tmp / MANIFEST_NAME, manifest)
    logger.info("published checkpoint of individual %d (%d params in %d layers) at %s",
                indiv_id, manifest["total_params"], len(counts), final)
    return final


# --- reading --------------------------------------------------------------------
def _parse_manifest(text: str, where: Path) -> dict[str, Any]:
    try:
        manifest = json.loads(text)
    except ValueError as exc:
        raise CheckpointCorrupt(f"unreadable manifest {where}: {exc}") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") not in _READABLE_VERSIONS:
        raise CheckpointCorrupt(f"{where}: not a version-{'/'.join(map(str, _READABLE_VERSIONS))} "
                                "checkpoint manifest")
    return manifest


def read_manifest(save_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """The manifest of a published checkpoint.

    Raises:
        CheckpointCorrupt: if there is no checkpoint or its manifest is unreadable.
    """
    where = checkpoint_store.resolve(save_dir)
    if where is None:
        raise CheckpointCorrupt(f"no published checkpoint at {checkpoint_dir(save_dir)}")
    path = where / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CheckpointCorrupt(f"unreadable manifest {path}: {exc}") from None
    return _parse_manifest(text, path)


def _read_at(dir_fd: int, name: str) -> bytes:
    fd = os.open(name, os.O_RDONLY, dir_fd=dir_fd)
    with os.fdopen(fd, "rb") as f:
        return f.read()


def read_checkpoint(
    save_dir: str | os.PathLike[str], ids: Collection[str] | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    """Manifest and weight arrays (of ``ids``, or all) of a published checkpoint.

    Both files are opened relative to one open handle of the checkpoint
    directory, and the weights are checksummed on exactly the bytes that are
    parsed, so a publish racing this read can never pair one publish's
    manifest with another's weights.

    Returns:
        ``(manifest, {hash_id: {variable_path: array}})``; ids the checkpoint
        lacks are simply absent.

    Raises:
        CheckpointCorrupt: if the checkpoint is missing, incomplete, or its
            weights file does not match the manifest's size and checksum.
    """
    where = checkpoint_store.resolve(save_dir) or checkpoint_dir(save_dir)
    try:
        dir_fd = os.open(where, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except FileNotFoundError:
        raise CheckpointCorrupt(f"no published checkpoint at {where}") from None
    except OSError as exc:
        raise CheckpointCorrupt(f"unreadable checkpoint directory {where}: {exc}") from None
    try:
        try:
            manifest = _parse_manifest(_read_at(dir_fd, MANIFEST_NAME).decode("utf-8"), where / MANIFEST_NAME)
            blob = _read_at(dir_fd, WEIGHTS_NAME)
        except (OSError, UnicodeDecodeError) as exc:
            raise CheckpointCorrupt(f"incomplete checkpoint {where}: {exc}") from None
    finally:
        os.close(dir_fd)
    expected = manifest.get("weights", {})
    if len(blob) != expected.get("bytes") or hashlib.sha256(blob).hexdigest() != expected.get("sha256"):
        raise CheckpointCorrupt(
            f"{where / WEIGHTS_NAME}: size/checksum differ from the manifest (truncated or replaced)")
    try:
        arrays: dict[str, dict[str, np.ndarray]] = {}
        with h5py.File(io.BytesIO(blob), "r") as f:
            for h in f:
                if ids is not None and h not in ids:
                    continue
                group: dict[str, np.ndarray] = {}
                f[h].visititems(lambda name, obj, g=group: g.__setitem__(name, obj[()])
                                if isinstance(obj, h5py.Dataset) else None)
                arrays[h] = group
    except (OSError, KeyError, ValueError) as exc:
        raise CheckpointCorrupt(f"unreadable weights file {where / WEIGHTS_NAME}: {exc}") from None
    for entry in manifest.get("external", []):
        if ids is not None and entry["hash_id"] not in ids:
            continue
        try:
            value = load_array(where / entry["file"], entry["sha256"])
        except StoreError as exc:
            raise CheckpointCorrupt(f"{where}: {exc}") from None
        if list(value.shape) != entry["shape"]:
            raise CheckpointCorrupt(f"{where}: stored array {entry['file']} has shape {value.shape}, "
                                    f"the manifest says {entry['shape']}")
        arrays.setdefault(entry["hash_id"], {})[entry["path"]] = value
    return manifest, arrays


def _read_with_retry(
    restore_dir: str | os.PathLike[str], ids: Collection[str]
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]]]:
    for attempt in range(_READ_ATTEMPTS):
        try:
            return read_checkpoint(restore_dir, ids)
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
        manifest, arrays = _read_with_retry(restore_dir, wanted)
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
    remaps = _input_remaps(graph, manifest)
    remapped = 0  # scalars copied into remapped input layers
    for h in sorted(wanted & set(arrays)):
        stored = arrays[h]
        if h in remaps:
            pairs, copied = _remapped_input(h, groups[h], stored, *remaps[h])
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
    for var, value in assignments:
        var.assign(value.astype(var.dtype, copy=False))
    loaded = tuple(sorted(wanted & set(arrays)))
    missing = tuple(sorted(wanted - set(arrays)))
    if missing:
        logger.warning("parent checkpoint lacks shared layer(s) %s; initialised fresh", list(missing))
    inherited = sum(count_params(groups[h]) for h in loaded if h not in remaps) + remapped
    logger.info("warm start from %s: %d/%d layers, %d of %d parameters inherited",
                restore_dir, len(loaded), len(groups), inherited, total)
    return WarmStartReport(bool(loaded), inherited, total - inherited, loaded, missing)


def _input_remaps(graph: Graph | None, manifest: Mapping[str, Any]) -> dict[str, tuple[tuple, tuple, int]]:
    """uid -> (parent's, child's attributes, word_dim) of layers loaded by rows, not whole.

    Input layers whose features differ; pointers turned from linear into
    conditioned or back (attributes: the pointer kind).
    """
    if graph is None or "graph" not in manifest:
        return {}
    try:
        parent = Graph.from_dict(manifest["graph"])
    except GraphError as exc:
        raise CheckpointCorrupt(f"parent manifest holds an unreadable graph: {exc}") from None
    word_dim = int(manifest.get("model_config", {}).get("word_dim", 0))
    before = {l.uid: l for l in parent.layers}
    out = {}
    for layer in graph.layers:
        old = before.get(layer.uid)
        if old is None or old.type is not layer.type:
            continue
        if layer.type is LayerType.INPUT and old.features != layer.features:
            out[layer.uid] = (old.features, layer.features, word_dim)
        elif layer.type is LayerType.OUTPUT and old.pointer != layer.pointer:
            out[layer.uid] = ((old.pointer,), (layer.pointer,), word_dim)
    return out


def _remapped_input(h: str, variables: list[keras.Variable], stored: Mapping[str, np.ndarray],
                    old: tuple[str, ...], new: tuple[str, ...], word_dim: int
                    ) -> tuple[list[tuple[keras.Variable, np.ndarray]], int]:
    """Assignments for a layer loaded by rows (see :func:`_input_remaps`), and the scalars copied."""
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

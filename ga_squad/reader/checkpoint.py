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
they were in ``weights.h5``. A manifest of another ``format_version`` is
refused (:class:`CheckpointCorrupt`, naming the file).

**Atomic publish.** Everything is written into a private temporary sibling
directory, each file fsynced, then published through
:func:`ga_squad.store.checkpoint_store.publishing`: the directory becomes a
new version and the ``checkpoint`` pointer (a symlink) is replaced atomically,
so a reader always sees either no checkpoint or a complete one, also during a
re-publish. A reader that finds the pointer missing or dangling (a kill
between two steps) uses the newest complete version. Leftovers of killed
publishes are removed by ownership (pid/host/lease in their names), never by
age alone.

**Optimizer state.** With the weights, a trial may publish Adam's moments
(``optimizer.h5``, :mod:`ga_squad.reader.optimizer_state`; the manifest's
``optimizer`` entry has its size and sha256), so a child resumes its parent's
training instead of restarting its optimizer. :func:`read_checkpoint_state`
reads them in the same consistent read as the weights; a checkpoint without
them, or with a damaged file, gives fresh optimizer state, never an error.

**Weight ids.** Groups are keyed by *weight id*: a layer's persistent uid,
a gated skip's gate id, or the embeddings' fixed id. The manifest records,
per layer, both its uid and its hash id (``layer_ids``).

**Warm start** (:mod:`ga_squad.reader.warm_start`). :func:`~ga_squad.reader.warm_start.load_shared` loads exactly the shared weight ids and leaves
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
from collections.abc import Collection, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import h5py
import keras
import numpy as np

from ga_squad.files import file_digest, fsync_path
from ga_squad.store import checkpoint_store
from ga_squad.reader import optimizer_state
from ga_squad.reader.embedding_store import StoreError, load_array, store_array
from ga_squad.search.graph import Graph
from ga_squad.reader.model import count_params, weights_by_hash

__all__ = [
    "FORMAT_VERSION",
    "CheckpointCorrupt",
    "CheckpointError",
    "checkpoint_dir",
    "publish_checkpoint",
    "read_checkpoint",
    "read_checkpoint_state",
    "read_manifest",
]

logger = logging.getLogger(__name__)

FORMAT_VERSION = 2
CHECKPOINT_NAME = checkpoint_store.CHECKPOINT_NAME
MANIFEST_NAME = checkpoint_store.MANIFEST_NAME
WEIGHTS_NAME = "weights.h5"


class CheckpointError(RuntimeError):
    """A checkpoint is incompatible with the model asking for it (configuration bug)."""


class CheckpointCorrupt(CheckpointError):
    """A checkpoint is missing, incomplete or damaged (the child cold-starts)."""


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
    optimizer: Mapping[str, optimizer_state.Moments] | None = None,
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
        optimizer: Adam's state by variable path, written as ``optimizer.h5``
            (:func:`ga_squad.reader.optimizer_state.capture`); None writes none.

    Returns:
        The published checkpoint directory.
    """
    final = checkpoint_dir(save_dir)
    groups = weights_by_hash(model)
    external = [] if embedding_store is None else _store_frozen(groups, embedding_store, final)
    with checkpoint_store.publishing(save_dir) as tmp:
        weights_path = tmp / WEIGHTS_NAME
        counts = _write_weights(weights_path, groups, {e["path"] for e in external})
        extra_files: dict[str, Any] = {}
        if optimizer is not None:
            state_path = tmp / optimizer_state.OPTIMIZER_NAME
            written = optimizer_state.write(state_path, groups, optimizer)
            fsync_path(state_path)
            extra_files["optimizer"] = {"file": optimizer_state.OPTIMIZER_NAME, "kind": "adam",
                                        "variables": written, "bytes": state_path.stat().st_size,
                                        "sha256": file_digest(state_path)}
        manifest = {
            "format_version": FORMAT_VERSION,
            "indiv_id": indiv_id,
            "parent_id": parent_id,
            "graph": graph.to_dict(),
            "graph_fingerprint": graph.fingerprint(),
            "hash_ids": sorted(groups),  # the weight ids
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
            **extra_files,
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
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise CheckpointCorrupt(f"{where}: not a version-{FORMAT_VERSION} checkpoint manifest")
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

    See :func:`read_checkpoint_state`, which also returns the optimizer state.
    """
    manifest, arrays, _ = _read(save_dir, ids, with_optimizer=False)
    return manifest, arrays


def read_checkpoint_state(
    save_dir: str | os.PathLike[str], ids: Collection[str] | None = None
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], dict[str, dict[str, optimizer_state.Moments]]]:
    """Manifest, weight arrays and optimizer state (of ``ids``, or all) of a published checkpoint.

    The optimizer state is ``{hash_id: {variable path: Moments}}``, empty
    when the checkpoint has none or its file is damaged (a WARNING: the
    child only loses its parent's optimizer state, never its weights).
    """
    return _read(save_dir, ids, with_optimizer=True)


def _read(
    save_dir: str | os.PathLike[str], ids: Collection[str] | None, with_optimizer: bool
) -> tuple[dict[str, Any], dict[str, dict[str, np.ndarray]], dict[str, dict[str, optimizer_state.Moments]]]:
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
        moments = _read_optimizer(dir_fd, where, manifest, ids) if with_optimizer else {}
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
    return manifest, arrays, moments


def _read_optimizer(dir_fd: int, where: Path, manifest: Mapping[str, Any],
                    ids: Collection[str] | None) -> dict[str, dict[str, optimizer_state.Moments]]:
    entry = manifest.get("optimizer")
    if not entry:
        return {}
    try:
        blob = _read_at(dir_fd, entry["file"])
        if len(blob) != entry.get("bytes") or hashlib.sha256(blob).hexdigest() != entry.get("sha256"):
            raise ValueError("size/checksum differ from the manifest (truncated or replaced)")
        return optimizer_state.decode(blob, ids)
    except (OSError, KeyError, ValueError, TypeError) as exc:
        logger.warning("%s: optimizer state unusable (%s); the child's optimizer starts fresh",
                       where / str(entry.get("file")), exc)
        return {}

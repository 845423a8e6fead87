"""A standalone copy of a trained reader: one folder that ``predict`` loads without the search.

:func:`export_reader` writes, into one folder,

* ``reader.keras``: the model as a Keras archive. The compiled graph model is
  wrapped in :class:`ExportedReader`, one registered top-level ``keras.Model``
  whose config holds what :func:`~ga_squad.reader.model.build_model` needs
  (graph, model config, vocabulary sizes, embedding settings, feature
  columns). Loading rebuilds the graph model from that config and restores
  every weight, so the archive does not depend on the per-block layer configs
  (which change as the search space grows) -- only on ``build_model`` building
  the same graph the same way;
* ``vocab.json``: the word and character vocabularies, in the format of the
  per-experiment vocabulary store (:func:`~ga_squad.reader.assets.vocab_bytes`);
* ``reader.json``: metadata -- the individual, its graph and fingerprint, its
  trial's metrics, tokenizer and decoding settings, the versions that wrote
  it, when, and the sha256 of each file. Its ``reader_assets`` entry has the
  shape of a checkpoint manifest's, so :func:`~ga_squad.reader.assets.load_assets`
  reads and checks the vocabulary exactly as for a checkpoint;
* ``README.md``: how to use it.

Before writing the metadata, the export loads its own archive back and checks
that it gives the checkpoint's logits on a batch (:data:`VERIFY_RTOL`): an
export that does not reproduce its checkpoint is never published.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
from keras.src.backend.common import global_state  # keras is pinned; the scope's state has no public API

import ga_squad
from ga_squad.files import atomic_write, file_digest, replace_durably, write_json_atomic
from ga_squad.reader.assets import ASSETS_FORMAT, ASSETS_KEY, AssetsError, ReaderAssets, load_assets, vocab_bytes
from ga_squad.reader.bundle import (EXPORT_META, EXPORT_MODEL, LoadedCheckpoint, Reader, Source, SourceKind,
                                    load_checkpoint, locate, logits_fn)
from ga_squad.reader.config import ModelConfig, TrainConfig
from ga_squad.reader.model import INPUT_KEYS, build_model
from ga_squad.search.graph import Graph
from ga_squad.search.vocabulary import FEATURE_COLUMNS

__all__ = [
    "EXPORT_FORMAT",
    "EXPORT_README",
    "EXPORT_VOCAB",
    "ExportError",
    "ExportResult",
    "ExportedReader",
    "export_reader",
    "load_exported",
    "probe_batch",
]

logger = logging.getLogger(__name__)

EXPORT_FORMAT = 1
EXPORT_VOCAB = "vocab.json"
EXPORT_README = "README.md"
VERIFY_RTOL = 1e-5
VERIFY_ATOL = 1e-5


class ExportError(AssetsError):
    """An export folder is incomplete or damaged, or the export could not be verified."""


@keras.saving.register_keras_serializable(package="ga_squad")
class ExportedReader(keras.Model):
    """A reader's graph model behind a config that rebuilds it (what ``reader.keras`` holds).

    Args:
        spec: ``build_model``'s arguments as JSON: ``graph`` (dict),
            ``model_config`` (dict), ``word_vocab_size``, ``char_vocab_size``,
            ``fix_embeddings``, ``data_features``.
        inner: The already-built graph model (export); None rebuilds it from
            ``spec`` (loading).
    """

    def __init__(self, spec: Mapping[str, Any], inner: keras.Model | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.spec = dict(spec)
        self.inner = inner if inner is not None else _build_inner(self.spec)
        self.built = True  # the functional inner model is built at construction

    def call(self, inputs, training=None):  # noqa: ANN001, ANN201 - Keras signature
        return self.inner(inputs, training=training)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "spec": self.spec}

    def build(self, input_shape: Any = None) -> None:
        """Already built: the inner model is (Keras calls this with the stored shapes on loading)."""
        self.built = True


_SHARING_MAPS = ("shared_objects/id_to_obj_map", "shared_objects/id_to_config_map")


@contextlib.contextmanager
def _outside_object_sharing() -> Iterator[None]:
    """Suspend the object-sharing scope of ``keras.saving.load_model`` while our own code builds layers.

    Inside that scope Keras keys every object it serializes by ``id()`` and hands an
    already-deserialized object back for any later config carrying the same id. That is
    sound for the objects of one stored config, not for layers created while rebuilding:
    ``Bidirectional`` copies its RNN through serialize + deserialize, and once CPython
    recycles the id of a freed object (an earlier block's temporary RNN, an initializer)
    a fresh RNN resolves to the stale object, so both directions become one layer (Keras:
    "should have different go_backwards value") or take another layer's config. Which
    graphs hit it depends on memory layout. The spec holds no Keras objects to share, so
    building without the scope loses nothing and builds exactly what training built.
    """
    saved = [global_state.get_global_attribute(key) for key in _SHARING_MAPS]
    for key in _SHARING_MAPS:
        global_state.set_global_attribute(key, None)
    try:
        yield
    finally:
        for key, value in zip(_SHARING_MAPS, saved):
            global_state.set_global_attribute(key, value)


def _build_inner(spec: Mapping[str, Any]) -> keras.Model:
    with _outside_object_sharing():  # called from load_model's from_config (see above)
        return build_model(Graph.from_dict(spec["graph"]), ModelConfig.from_dict(spec["model_config"]),
                           int(spec["word_vocab_size"]), int(spec["char_vocab_size"]), embeddings=None,
                           fix_embeddings=bool(spec["fix_embeddings"]),
                           data_features=tuple(spec["data_features"]))


def _spec(manifest: Mapping[str, Any], assets: ReaderAssets) -> dict[str, Any]:
    """The arguments :func:`~ga_squad.reader.bundle.restore_model` built the checkpoint's model with."""
    return {"graph": dict(manifest["graph"]), "model_config": dict(manifest["model_config"]),
            "word_vocab_size": len(assets.word_vocab), "char_vocab_size": len(assets.char_vocab),
            "fix_embeddings": TrainConfig.from_dict(manifest.get("train_config") or {}).fix_embeddings,
            "data_features": list(FEATURE_COLUMNS)}


def probe_batch(assets: ReaderAssets, batch_size: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """A deterministic batch of random in-vocabulary inputs (with padding) to compare two models on."""
    rng = np.random.default_rng(seed)
    t = assets.tokenizer
    out: dict[str, np.ndarray] = {}
    for stream, length in (("question", min(t.max_question_len, 12)), ("passage", min(t.max_passage_len, 40))):
        words = rng.integers(1, max(len(assets.word_vocab), 2), size=(batch_size, length), dtype=np.int32)
        lengths = rng.integers(max(1, length // 2), length + 1, size=batch_size)
        words[np.arange(length)[None, :] >= lengths[:, None]] = 0
        chars = rng.integers(1, max(len(assets.char_vocab), 2), size=(batch_size, length, t.max_word_len),
                             dtype=np.int32)
        chars[words == 0] = 0
        features = (rng.random((batch_size, length, len(FEATURE_COLUMNS))) < 0.3).astype(np.float32)
        features[words == 0] = 0.0
        out.update({f"{stream}_words": words, f"{stream}_chars": chars, f"{stream}_features": features})
    return {k: out[k] for k in INPUT_KEYS}


def _same_logits(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> float:
    """The largest absolute difference of two models' (begin, end) logits; ExportError beyond the tolerance."""
    worst = max(float(np.max(np.abs(x - y))) for x, y in zip(a, b))
    if not all(x.shape == y.shape and np.allclose(x, y, rtol=VERIFY_RTOL, atol=VERIFY_ATOL) for x, y in zip(a, b)):
        raise ExportError(f"the exported model does not reproduce its checkpoint (largest logit difference "
                          f"{worst:.3g}); nothing was exported")
    return worst


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_reader` wrote.

    Attributes:
        out_dir: The export folder.
        indiv_id: The exported individual.
        max_abs_diff: Largest logit difference between the checkpoint and the
            reloaded export on the probe batch.
        metadata: The ``reader.json`` written.
    """

    out_dir: Path
    indiv_id: int | None
    max_abs_diff: float
    metadata: Mapping[str, Any]


def _readme(meta: Mapping[str, Any], folder: Path) -> str:
    metrics = meta.get("metrics") or {}
    f1 = metrics.get("f1")
    score = f" (dev F1 {f1:.2f}, EM {metrics.get('em', float('nan')):.2f})" if isinstance(f1, float) else ""
    return f"""# ga-squad reader, individual {meta.get('indiv_id')}{score}

Exported {meta['created']} by ga-squad {meta['versions']['ga_squad']} (Keras {meta['versions']['keras']},
TensorFlow {meta['versions']['tensorflow']}) from `{meta['source']['path']}`.

| file | what |
|---|---|
| `{EXPORT_MODEL}` | the model (Keras archive; loading needs the `ga_squad` package, which registers `ExportedReader`) |
| `{EXPORT_VOCAB}` | word and character vocabularies |
| `{EXPORT_META}` | metadata: graph and fingerprint `{meta['graph_fingerprint']}`, metrics, tokenizer settings, checksums |

Answer questions (this folder is all it needs):

    python -m ga_squad predict {folder} --input dev.json --output predictions.json
    python -m ga_squad predict {folder} --question "Who ...?" --passage "..."

From Python:

    from ga_squad.reader.loader import load_reader
    from ga_squad.reader.inference import answer
    reader = load_reader("{folder}")
    print(answer(reader, "Who ...?", "...").text)

The model maps the int32/float32 arrays `{', '.join(meta['input_keys'])}` (as
`ga_squad.reader.dataset.encode_examples` makes them with these vocabularies and
tokenizer settings) to `{{"begin": [B, Lp], "end": [B, Lp]}}` span logits.
"""


def _load_model(path: Path) -> keras.Model:
    try:
        return keras.saving.load_model(path, custom_objects={"ga_squad>ExportedReader": ExportedReader},
                                       compile=False, safe_mode=True)
    except Exception as exc:  # a damaged archive surfaces as zipfile/h5py/ValueError errors alike
        raise ExportError(f"{path} is not a loadable exported reader ({type(exc).__name__}: "
                          f"{' '.join(str(exc).split())[:200]}); export it again") from None


def export_reader(
    path: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    experiment: str | None = None,
    overwrite: bool = False,
) -> ExportResult:
    """Export the reader at ``path`` (search folder, storage root or individual folder) into ``out_dir``.

    Args:
        path: Where the checkpoint is (as :func:`~ga_squad.reader.loader.load_reader`).
        out_dir: The export folder (created).
        experiment: Experiment id under a storage root.
        overwrite: Replace an existing export in ``out_dir``.

    Raises:
        FileExistsError: if ``out_dir`` already holds an export and not ``overwrite``.
        ExportError: if the written model does not reproduce the checkpoint.
        ReaderNotFound, AssetsError, CheckpointError: as ``load_reader``.
    """
    out = Path(out_dir).expanduser().resolve()
    if not overwrite and any((out / name).exists() for name in (EXPORT_MODEL, EXPORT_META)):
        raise FileExistsError(f"{out} already holds an exported reader; pass --force to replace it, "
                              f"or choose another --out")
    source = locate(path, experiment)
    if source.kind is SourceKind.EXPORT:
        raise ExportError(f"{path} is already an export; copy the folder instead")
    loaded: LoadedCheckpoint = load_checkpoint(source)
    wrapped = ExportedReader(_spec(loaded.manifest, loaded.assets), inner=loaded.model, name="exported_reader")
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out, prefix=".export-") as staging:
        staged = Path(staging) / EXPORT_MODEL
        wrapped.save(staged)
        batch = probe_batch(loaded.assets)
        reloaded = _load_model(staged)
        diff = _same_logits(logits_fn(loaded.model, tuple(INPUT_KEYS))(batch),
                            logits_fn(reloaded, tuple(INPUT_KEYS))(batch))
        shutil.move(str(staged), str(out / f".{EXPORT_MODEL}.verified.keras"))
    (out / EXPORT_META).unlink(missing_ok=True)  # replacing: the folder reads "incomplete" until the end
    replace_durably(out / f".{EXPORT_MODEL}.verified.keras", out / EXPORT_MODEL)
    vocab = vocab_bytes(loaded.assets.word_vocab, loaded.assets.char_vocab)
    with atomic_write(out / EXPORT_VOCAB) as f:
        f.write(vocab)
    manifest = loaded.manifest
    train = TrainConfig.from_dict(manifest.get("train_config") or {})
    indiv_id = manifest.get("indiv_id")
    meta: dict[str, Any] = {
        "format": EXPORT_FORMAT,
        "indiv_id": indiv_id,
        "graph": manifest["graph"],
        "graph_fingerprint": Graph.from_dict(manifest["graph"]).fingerprint(),
        "model_config": manifest["model_config"],
        "metrics": manifest.get("metrics") or {},
        "max_answer_len": train.max_answer_len,
        "batch_size": train.eval_batch_size,
        "input_keys": list(INPUT_KEYS),
        ASSETS_KEY: {"format": ASSETS_FORMAT, "vocab_file": EXPORT_VOCAB,
                     "vocab_sha256": hashlib.sha256(vocab).hexdigest(),
                     "tokenizer": loaded.assets.tokenizer.to_dict()},
        "model_file": EXPORT_MODEL,
        "model_sha256": file_digest(out / EXPORT_MODEL),
        "verified_max_abs_diff": diff,
        "source": {"kind": source.kind.value, "path": str(source.path),
                   "search_dir": str(source.search_dir) if source.search_dir else None},
        "versions": {"ga_squad": ga_squad.__version__, "keras": keras.__version__, "tensorflow": tf.__version__,
                     "numpy": np.__version__},
        "created": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
    }
    with atomic_write(out / EXPORT_README, "w") as f:
        f.write(_readme(meta, out))
    write_json_atomic(out / EXPORT_META, meta, indent=2)  # last: its presence marks a complete export
    logger.info("exported individual %s to %s (largest logit difference %.3g)", indiv_id, out, diff)
    return ExportResult(out, indiv_id if isinstance(indiv_id, int) else None, diff, meta)


def _read_meta(folder: Path) -> dict[str, Any]:
    path = folder / EXPORT_META
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ExportError(f"export folder {folder} has no {EXPORT_META}; the export is incomplete, "
                          f"run python -m ga_squad export again") from None
    except (OSError, ValueError) as exc:
        raise ExportError(f"{path} is unreadable or not JSON ({exc}); run python -m ga_squad export again") from None
    if not isinstance(meta, dict) or meta.get("format") != EXPORT_FORMAT or ASSETS_KEY not in meta:
        raise ExportError(f"{path} is not a ga-squad export of format {EXPORT_FORMAT}; "
                          f"run python -m ga_squad export again")
    return meta


def load_exported(source: Source) -> Reader:
    """The :class:`~ga_squad.reader.bundle.Reader` of an export folder.

    Raises:
        ExportError: if a file is missing or does not match its checksum.
    """
    folder = source.path
    meta = _read_meta(folder)
    model_path = folder / EXPORT_MODEL
    if not model_path.is_file():
        raise ExportError(f"export folder {folder} has no {EXPORT_MODEL}; copy the whole folder, "
                          f"or run python -m ga_squad export again")
    if file_digest(model_path) != meta.get("model_sha256"):
        raise ExportError(f"{model_path} does not match the checksum in {EXPORT_META}; it is damaged, "
                          f"export it again")
    if not (folder / EXPORT_VOCAB).is_file():
        raise ExportError(f"export folder {folder} has no {EXPORT_VOCAB}; copy the whole folder, "
                          f"or run python -m ga_squad export again")
    assets = load_assets(folder, meta)
    assert assets is not None  # _read_meta checked the reference
    model = _load_model(model_path)
    input_keys: Sequence[str] = tuple(meta["input_keys"])
    indiv_id = meta.get("indiv_id")
    logger.info("loaded exported individual %s from %s", indiv_id, folder)
    return Reader(assets=assets, logits=logits_fn(model, tuple(input_keys)), input_keys=tuple(input_keys),
                  max_answer_len=int(meta["max_answer_len"]), batch_size=int(meta["batch_size"]),
                  source=source, indiv_id=indiv_id if isinstance(indiv_id, int) else None,
                  metrics=dict(meta.get("metrics") or {}))

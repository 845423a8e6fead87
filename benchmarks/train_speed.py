"""Training speed of a graph-compiled reader vs the same reader written by hand.

Two figures, measured in one run on the bundled SQuAD sample:

1. Examples per second of the model compiled from ``ga_squad.search.graph.base_reader()``
   by :func:`ga_squad.reader.model.build_model`, and of the same architecture written
   directly with Keras layers (below), both trained with the same compiled step
   on the same batches. Target: ratio >= 0.95 (compiling a graph costs nothing
   at training time).
2. Warm-start load time as a fraction of a whole child trial (parent trained
   and published first). Target: <= 2%.

Usage::

    .venv/bin/python benchmarks/train_speed.py [--size small] [--batches 20] [--threads 2]

Writes its figures to ``results/train_speed.json`` (see ``benchmarks/bench_json.py``).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]

from benchmarks.bench_json import write_result  # noqa: E402

logger = logging.getLogger("train_speed")


@dataclass(frozen=True)
class BenchConfig:
    """What to measure.

    Attributes:
        size: Model size preset.
        batches: Timed training batches per round and model.
        rounds: Timed passes over the batches (speed = all examples / all time).
        batch_size: Questions per batch.
        train_limit: Training questions loaded.
        epochs: Epochs of the parent and of the child trial (warm-start figure).
        threads: TensorFlow intra-op threads.
        seed: Seed.
    """

    size: str = "small"
    batches: int = 20
    rounds: int = 3
    batch_size: int = 32
    train_limit: int = 640
    epochs: int = 1
    threads: int = 2
    seed: int = 0


def hand_written_reader(cfg, vocab_size: int, char_vocab_size: int, embeddings):
    """``base_reader()`` written directly in Keras: the reference for the compiled graph."""
    import keras
    from keras import layers, ops

    from ga_squad.reader.model import NEG_INF, model_inputs

    inp = model_inputs()
    q_mask = ops.not_equal(inp["question_words"], 0)
    p_mask = ops.not_equal(inp["passage_words"], 0)
    word = layers.Embedding(vocab_size, cfg.word_dim, trainable=embeddings is None, name="word")
    char = layers.Embedding(char_vocab_size, cfg.char_dim, name="char")
    conv = layers.Conv2D(cfg.char_filters, (1, cfg.char_kernel), padding="same", activation="relu", name="conv")

    def embed(words, chars):
        char_mask = ops.expand_dims(ops.cast(ops.not_equal(chars, 0), "float32"), -1)
        pooled = ops.max(conv(char(chars)) * char_mask, axis=2)
        return ops.concatenate([word(words), pooled], axis=-1)

    def birnn(name):
        return layers.Bidirectional(layers.GRU(cfg.hidden // 2, return_sequences=True), name=name)

    drop = layers.Dropout(cfg.dropout)
    q = drop(layers.Dense(cfg.hidden, name="q_proj")(embed(inp["question_words"], inp["question_chars"])))
    p = drop(layers.Dense(cfg.hidden, name="p_proj")(embed(inp["passage_words"], inp["passage_chars"])))
    q = drop(birnn("q_rnn")(q, mask=q_mask))
    p = drop(birnn("p_rnn")(p, mask=p_mask))
    att_mask = ops.logical_and(ops.expand_dims(p_mask, 2), ops.expand_dims(q_mask, 1))
    a = layers.MultiHeadAttention(cfg.heads, cfg.hidden // cfg.heads, name="att")(p, q, attention_mask=att_mask)
    fused = layers.Dense(cfg.hidden, activation="relu", name="fuse")(ops.concatenate([p, a, p * a], axis=-1))
    p = layers.LayerNormalization(name="norm")(p + drop(fused))
    p = drop(birnn("model_rnn")(p, mask=p_mask))
    outputs = {}
    for name in ("begin", "end"):
        logits = ops.squeeze(layers.Dense(1, name=name)(p), -1)
        outputs[name] = ops.where(p_mask, logits, ops.full_like(logits, NEG_INF))
    model = keras.Model(inp, outputs, name="hand_written_reader")
    if embeddings is not None:
        word.embeddings.assign(embeddings)
    return model


def time_step(step, batch) -> float:
    """Seconds to run ``step`` on one batch (the loss is fetched, so the work is done)."""
    from ga_squad.reader.model import INPUT_KEYS

    start = time.perf_counter()
    step({k: batch[k] for k in INPUT_KEYS}, batch["begin"], batch["end"]).numpy()
    return time.perf_counter() - start


def interleaved_seconds(steps, batches, rounds: int) -> dict[str, list[float]]:
    """Per-round seconds of each step over all batches, alternating models batch by batch.

    Alternating on every batch (ABBA order) exposes both models to the same
    machine load, which on a shared 2-core box drifts by 10% within a minute.
    """
    names = list(steps)
    seconds = {name: [0.0] * rounds for name in names}
    for r in range(rounds):
        for i, batch in enumerate(batches):
            for name in (names if (i + r) % 2 == 0 else names[::-1]):
                seconds[name][r] += time_step(steps[name], batch)
    return seconds


def main(cfg: BenchConfig) -> dict[str, float]:
    from ga_squad.reader.training import configure_tensorflow

    configure_tensorflow(cfg.threads, 1, deterministic=True)
    import keras

    from ga_squad.reader.config import ModelConfig, TrainConfig
    from ga_squad.store.contract import TrialParams
    from ga_squad.reader.arrays import iterate_batches
    from ga_squad.reader.data_cache import load_dataset
    from ga_squad.reader.dataset import DataConfig
    from ga_squad.search.graph import base_reader
    from ga_squad.reader.model import build_model
    from ga_squad.reader.training import make_steps, run_trial

    data_dir = REPO_ROOT / "data"
    data = load_dataset(DataConfig(str(data_dir / "squad_train_sample.json"), str(data_dir / "squad_dev_sample.json"),
                                   str(data_dir / "glove.sample.50d.txt"), train_limit=cfg.train_limit,
                                   dev_limit=200), None)
    model_cfg = dataclasses.replace(ModelConfig.preset(cfg.size), word_dim=int(data.embeddings.shape[1]))
    train_cfg = TrainConfig(batch_size=cfg.batch_size, epochs=cfg.epochs, patience=cfg.epochs, seed=cfg.seed)
    batches = list(iterate_batches(data.train, cfg.batch_size, shuffle=True, seed=cfg.seed))[: cfg.batches]
    examples = sum(len(b["begin"]) for b in batches)
    tokens = sum(int((b["passage_words"] != 0).sum()) for b in batches)

    keras.utils.set_random_seed(cfg.seed)
    graph_model = build_model(base_reader(), model_cfg, len(data.word_vocab), len(data.char_vocab), data.embeddings)
    keras.utils.set_random_seed(cfg.seed)
    hand_model = hand_written_reader(model_cfg, len(data.word_vocab), len(data.char_vocab), data.embeddings)
    if graph_model.count_params() != hand_model.count_params():
        raise AssertionError(f"architectures differ: {graph_model.count_params()} vs {hand_model.count_params()} params")
    steps = {"graph": make_steps(graph_model, train_cfg).train, "hand": make_steps(hand_model, train_cfg).train}
    trace = {name: time_step(step, batches[0]) for name, step in steps.items()}  # trace + first step
    interleaved_seconds(steps, batches[:4], 1)  # warm-up: allocator, thread pools
    seconds = interleaved_seconds(steps, batches, cfg.rounds)
    speed = {name: examples * cfg.rounds / sum(s) for name, s in seconds.items()}

    with tempfile.TemporaryDirectory(prefix="ga-bench-") as tmp:
        graph = base_reader()
        parent = TrialParams(0, None, graph, None, str(Path(tmp) / "000000"), None, seed=cfg.seed)
        run_trial(parent, data, model_cfg, train_cfg)
        child = TrialParams(1, 0, graph, parent.save_dir, str(Path(tmp) / "000001"), graph.weight_ids(),
                            seed=cfg.seed + 1)
        result = run_trial(child, data, model_cfg, train_cfg)

    figures = {
        "graph_examples_per_s": speed["graph"],
        "hand_examples_per_s": speed["hand"],
        "speed_ratio": speed["graph"] / speed["hand"],
        "warm_start_s": result["warm_start_seconds"],
        "child_trial_s": result["trial_seconds"],
        "warm_start_fraction": result["warm_start_seconds"] / result["trial_seconds"],
    }
    print(f"model size {cfg.size!r}: {graph_model.count_params():,} parameters; {cfg.batches} batches of "
          f"{cfg.batch_size} ({examples} questions, {tokens / examples:.0f} passage tokens each on average), "
          f"{cfg.threads} intra-op threads, {cfg.rounds} timed rounds after a warm-up, models alternating batch by batch")
    for name, label in (("graph", "graph-compiled (build_model)"), ("hand", "hand-written Keras")):
        rounds = ", ".join(f"{s:.2f}" for s in seconds[name])
        print(f"  {label:30s} {speed[name]:7.1f} examples/s   (rounds: {rounds} s; trace + 1st step {trace[name]:.1f} s)")
    print(f"  speed ratio graph / hand       {figures['speed_ratio']:.3f}   (target >= 0.95)")
    print(f"warm start: {figures['warm_start_s'] * 1000:.1f} ms to load {result['inherited_params']:,} parameters "
          f"in a {figures['child_trial_s']:.1f} s child trial ({cfg.epochs} epoch(s) on {len(data.train)} questions, "
          f"{len(data.dev)} dev)")
    print(f"  warm-start fraction            {100 * figures['warm_start_fraction']:.2f} %   (target <= 2 %)")
    write_result("train_speed", figures, dataclasses.asdict(cfg))
    return figures


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    defaults = BenchConfig()
    for field in dataclasses.fields(BenchConfig):
        flag = "--" + field.name.replace("_", "-")
        parser.add_argument(flag, type=type(getattr(defaults, field.name)), default=getattr(defaults, field.name))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    main(BenchConfig(**vars(args)))

"""Where and in which float type a trial computes: device, mixed precision, loss scaling.

Mixed precision (:attr:`~ga_squad.reader.config.TrainConfig.mixed_precision`)
builds the model under Keras' ``mixed_float16`` policy (:func:`dtype_policy`):
variables stay float32, layers compute in float16, and the output layer is
float32 so pointer logits and the loss are float32. :class:`LossScale` keeps
small float16 gradients from flushing to zero.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import keras
import tensorflow as tf

__all__ = ["LossScale", "dtype_policy", "training_device"]

_INITIAL_LOSS_SCALE = 2.0 ** 15
_LOSS_SCALE_GROWTH_STEPS = 2000  # finite steps in a row before the loss scale doubles


def training_device() -> str:
    """The device TensorFlow places the training ops on: the first GPU, else the CPU.

    Logged by every trial (and recorded in its result) so a search that was
    meant to use GPUs shows at once when it fell back to the CPU.
    """
    gpus = tf.config.list_logical_devices("GPU")
    return (gpus or tf.config.list_logical_devices("CPU"))[0].name


@contextlib.contextmanager
def dtype_policy(mixed_precision: bool) -> Iterator[None]:
    """Build layers under ``mixed_float16`` (layers read the policy when created), then restore it."""
    if not mixed_precision:
        yield
        return
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_float16")
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)


class LossScale:
    """Dynamic loss scaling for float16 training.

    The loss is multiplied by ``scale`` before differentiation and the
    gradients divided by it after; a step whose gradients are not finite is
    skipped and halves the scale, and every
    :data:`_LOSS_SCALE_GROWTH_STEPS` finite steps in a row double it (the
    scheme of Keras' ``LossScaleOptimizer``, which cannot be used here
    because inherited and fresh variables have two optimizers and one clip).
    """

    def __init__(self) -> None:
        self.scale = tf.Variable(_INITIAL_LOSS_SCALE, trainable=False, dtype=tf.float32)
        self.good_steps = tf.Variable(0, trainable=False, dtype=tf.int64)

    def apply_if_finite(self, scaled_grads: list, apply: Callable[[list], None]) -> None:
        inv = 1.0 / self.scale
        grads = [tf.IndexedSlices(g.values * inv, g.indices, g.dense_shape)
                 if isinstance(g, tf.IndexedSlices) else g * inv for g in scaled_grads]
        finite = tf.reduce_all([tf.reduce_all(tf.math.is_finite(
            g.values if isinstance(g, tf.IndexedSlices) else g)) for g in grads])

        def step() -> tf.Tensor:
            apply(grads)
            n = self.good_steps.assign_add(1)
            grow = n >= _LOSS_SCALE_GROWTH_STEPS
            self.scale.assign(tf.where(grow, self.scale * 2.0, self.scale))
            self.good_steps.assign(tf.where(grow, tf.constant(0, tf.int64), n))
            return tf.constant(True)

        def skip() -> tf.Tensor:
            self.scale.assign(tf.maximum(self.scale / 2.0, 1.0))
            self.good_steps.assign(0)
            return tf.constant(False)

        tf.cond(finite, step, skip)

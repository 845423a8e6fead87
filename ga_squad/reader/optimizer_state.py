"""Adam's state travels with the weights, so a child continues its parent's training.

A child that inherits its parent's weights but starts a fresh Adam takes its
first steps as if nothing were known about the gradients: zero moments and a
bias correction of step 1 make every update about ``learning_rate`` times
the gradient's sign, for every parameter. On the bundled sample that costs a
warm child about 0.1 in validation loss, a third of an epoch, before it is
back where its parent ended. Publishing the moments with the checkpoint
removes that cost: an unchanged layer resumes with the exact optimizer state
its parent had, so an ``identity`` child computes the very updates its parent
would have computed next.

What is stored, per trainable variable: Adam's first and second moments and
the step count of the optimizer that produced them. The step count matters:
Adam divides by ``1 - beta ** t``, and a variable that was fresh in the
parent (a gate born at zero) has taken fewer steps than one inherited from
the grandparent. Variables are therefore grouped on restore by their step
count, one Adam per group (:func:`optimizer_groups`); Adam is element-wise, so
several optimizers with the same learning rate behave as one would, except
for that counter.

File: ``optimizer.h5`` in the checkpoint, ``/<hash_id>/m/<variable path>``
and ``/<hash_id>/v/<variable path>`` datasets, the step count as the ``t``
attribute of each ``m`` dataset. The manifest's ``optimizer`` entry carries
its size and sha256 (:mod:`ga_squad.reader.checkpoint`). Checkpoints without
it (published with ``optimizer=None``) load with fresh optimizer state.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import h5py
import keras
import numpy as np

__all__ = ["OPTIMIZER_NAME", "Moments", "capture", "decode", "optimizer_groups", "restore", "write"]

logger = logging.getLogger(__name__)

OPTIMIZER_NAME = "optimizer.h5"


@dataclass(frozen=True)
class Moments:
    """Adam's state of one variable.

    Attributes:
        m: First moment (same shape as the variable).
        v: Second moment.
        t: Steps the optimizer that produced them had taken.
    """

    m: np.ndarray
    v: np.ndarray
    t: int


OptimizerGroup = tuple[keras.optimizers.Optimizer, Sequence[keras.Variable]]


def capture(groups: Sequence[OptimizerGroup]) -> dict[str, Moments]:
    """A copy of every variable's Adam state, keyed by variable path.

    Args:
        groups: ``(optimizer, variables)`` pairs; each optimizer was built on
            exactly its variables (as :func:`ga_squad.reader.training.make_steps`
            builds them).
    """
    state: dict[str, Moments] = {}
    for optimizer, variables in groups:
        t = int(optimizer.iterations.numpy())
        for var in variables:
            i = optimizer._get_variable_index(var)  # Keras 3 Adam: moments are indexed like var_list
            state[var.path] = Moments(np.array(optimizer._momentums[i].numpy()),
                                      np.array(optimizer._velocities[i].numpy()), t)
    return state


def optimizer_groups(
    variables: Sequence[keras.Variable], rate: Mapping[str, float], default_rate: float,
    restored: Mapping[str, Moments],
) -> list[tuple[float, int | None, list[int]]]:
    """Partition variables into optimizers: one per (learning rate, restored step count).

    Args:
        variables: The trainable variables, in the order the gradients come.
        rate: Learning rate by variable path (others get ``default_rate``).
        default_rate: The learning rate of fresh variables.
        restored: Moments by variable path; a variable whose moments have
            another shape starts fresh.

    Returns:
        ``(learning_rate, step count or None for fresh state, indices)`` per
        group, fresh groups first, then by step count.
    """
    keyed: dict[tuple[float, int | None], list[int]] = {}
    for i, var in enumerate(variables):
        state = restored.get(var.path)
        t = state.t if state is not None and tuple(state.m.shape) == tuple(var.shape) else None
        keyed.setdefault((rate.get(var.path, default_rate), t), []).append(i)
    return [(lr, t, idx) for (lr, t), idx in sorted(keyed.items(), key=lambda kv: (kv[0][1] is not None,
                                                                                    kv[0][1] or 0, kv[0][0]))]


def restore(optimizer: keras.optimizers.Optimizer, variables: Sequence[keras.Variable],
            restored: Mapping[str, Moments], t: int) -> None:
    """Load moments into a built optimizer and set its step count to ``t``."""
    for var in variables:
        i = optimizer._get_variable_index(var)
        optimizer._momentums[i].assign(restored[var.path].m)
        optimizer._velocities[i].assign(restored[var.path].v)
    optimizer.iterations.assign(t)


def write(path: Path, groups: Mapping[str, Sequence[keras.Variable]], state: Mapping[str, Moments]) -> int:
    """Write the state of every variable of ``groups`` (hash id -> variables) that has one.

    Returns:
        The number of variables written.
    """
    written = 0
    with h5py.File(path, "w") as f:
        for h in sorted(groups):
            for var in groups[h]:
                moments = state.get(var.path)
                if moments is None:
                    continue
                m = f.create_dataset(f"{h}/m/{var.path}", data=moments.m)
                m.attrs["t"] = moments.t
                f.create_dataset(f"{h}/v/{var.path}", data=moments.v)
                written += 1
        f.flush()
    return written


def decode(blob: bytes, ids: Collection[str] | None = None) -> dict[str, dict[str, Moments]]:
    """``{hash_id: {variable path: Moments}}`` of an ``optimizer.h5``'s bytes (of ``ids``, or all).

    Raises:
        OSError, KeyError, ValueError: if the bytes are not such a file.
    """
    out: dict[str, dict[str, Moments]] = {}
    with h5py.File(io.BytesIO(blob), "r") as f:
        for h in f:
            if ids is not None and h not in ids:
                continue
            first: dict[str, tuple[np.ndarray, int]] = {}
            f[h]["m"].visititems(lambda name, obj, d=first: d.__setitem__(name, (obj[()], int(obj.attrs["t"])))
                                 if isinstance(obj, h5py.Dataset) else None)
            out[h] = {name: Moments(m, f[h]["v"][name][()], t) for name, (m, t) in first.items()}
    return out

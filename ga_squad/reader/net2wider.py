"""Net2Wider for a recurrent layer: a trained BiRNN re-expressed with more (or fewer) units.

Chen et al. 2016 ("Net2Net") widen a layer by copying units and splitting
each copied unit's outgoing weights among its copies, so the wider network
computes the same function. For a gated RNN (GRU, LSTM) that means, per
direction with ``n`` units widened to ``n'``, a map ``g`` from new to old
units (``g(j) = j mod n``) and, per new unit, a share ``s_j`` of its old
unit (the shares of one old unit's copies sum to 1):

* input kernel ``[d, G*n]`` and biases: every gate block's column ``j`` is
  the old column ``g(j)`` (each copy computes the same pre-activation);
* recurrent kernel ``[n, G*n]``: columns as above, row ``j`` is the old row
  ``g(j)`` times ``s_j`` (the copies together feed back what the old unit did);
* output projection: row ``j`` is the old row ``g(j)`` times ``s_j``; a
  width-1 layer has no projection, which is the identity;
* anything else in the layer's group that does not depend on the width (the
  residual gate of an inserted RNN) is copied.

By induction over time steps every copy's state equals its old unit's, so
the outputs are unchanged up to float rounding. Unequal random shares (not
Net2Net's 1/k) break the copies' symmetry: their outgoing weights differ, so
their gradients do, and the copies can learn different features.

Narrowing keeps the first ``n'`` units of each direction and their
projection rows: an approximate morphism (what the dropped units
contributed is lost).

Pure numpy, no Keras: :mod:`ga_squad.reader.warm_start` applies it to the
arrays of a parent checkpoint.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["resize_birnn"]

_DIRECTIONS = ("forward", "backward")


def _plan(old: int, new: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(g, s)``: the old unit and the share of each new unit."""
    if new <= old:
        return np.arange(new), np.ones(new)
    g = np.arange(new) % old
    raw = rng.uniform(0.5, 1.5, size=new)
    totals = np.bincount(g, weights=raw, minlength=old)
    return g, raw / totals[g]


def _columns(value: np.ndarray, units: int, g: np.ndarray) -> np.ndarray:
    """Pick columns ``g`` within every gate block of the last axis (blocks of ``units``)."""
    blocks = value.shape[-1] // units
    split = value.reshape(*value.shape[:-1], blocks, units)
    return split[..., g].reshape(*value.shape[:-1], blocks * len(g))


def resize_birnn(
    stored: Mapping[str, np.ndarray],
    target: Mapping[str, tuple[int, ...]],
    seed: int,
) -> dict[str, np.ndarray]:
    """The arrays of a resized BiRNN layer (an :class:`~ga_squad.reader.model.RnnBlock`).

    Args:
        stored: The parent layer's arrays by variable path (its cells,
            above width 1 ``.../proj/kernel`` and ``.../proj/bias``, and an
            inserted layer's residual gate).
        target: The child layer's variable paths and shapes (same paths
            for the cells; a projection the parent may lack, whose output
            width is the stream width).
        seed: Seeds the copies' shares (a replay gives the same child).

    Returns:
        One array per path of ``target``, shaped as ``target`` says.

    Raises:
        ValueError: if a cell variable of ``target`` is missing from
            ``stored`` or the shapes cannot be mapped.
    """
    rng = np.random.default_rng(seed)
    out: dict[str, np.ndarray] = {}
    plans: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    old_units = new_units = 0
    for direction in _DIRECTIONS:
        recurrent = [p for p in target if f"/{direction}_" in p and p.endswith("/recurrent_kernel")]
        if len(recurrent) != 1 or recurrent[0] not in stored:
            raise ValueError(f"no {direction} recurrent kernel to resize (have {sorted(stored)})")
        old_units = stored[recurrent[0]].shape[0]
        new_units = target[recurrent[0]][0]
        g, share = plans[direction] = _plan(old_units, new_units, rng)
        for path in (p for p in target if f"/{direction}_" in p):
            value = stored.get(path)
            if value is None:
                raise ValueError(f"parent lacks {path}")
            mapped = _columns(value, old_units, g)
            if path.endswith("/recurrent_kernel"):
                mapped = mapped[g] * share[:, None].astype(value.dtype)
            out[path] = mapped
    proj_kernel = next((p for p in target if p.endswith("/proj/kernel")), None)
    if proj_kernel is not None:
        old_kernel = next((v for p, v in stored.items() if p.endswith("/proj/kernel")), None)
        old_bias = next((v for p, v in stored.items() if p.endswith("/proj/bias")), None)
        if old_kernel is None:  # width 1: the output itself, an identity projection
            hidden = target[proj_kernel][1]
            old_kernel, old_bias = np.eye(2 * old_units, hidden, dtype=np.float32), np.zeros(hidden, np.float32)
        rows = [old_kernel[d * old_units + plans[name][0]] * plans[name][1][:, None].astype(old_kernel.dtype)
                for d, name in enumerate(_DIRECTIONS)]
        out[proj_kernel] = np.concatenate(rows, axis=0)
        out[proj_kernel.removesuffix("kernel") + "bias"] = old_bias
    # Width-free variables of the layer's group (the scalar gate of an inserted, residual RNN,
    # ``x + g * rnn(x)``): the projection keeps ``rnn(x)`` unchanged, so the gate carries over as is.
    for path, shape in target.items():
        if path not in out and path in stored and tuple(stored[path].shape) == tuple(shape):
            out[path] = stored[path]
    for path, shape in target.items():
        if path not in out or tuple(out[path].shape) != tuple(shape):
            got = None if path not in out else tuple(out[path].shape)
            raise ValueError(f"cannot map {path}: got {got}, want {tuple(shape)} "
                             f"({old_units} -> {new_units} units per direction)")
    return out

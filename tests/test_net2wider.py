"""Net2Wider on plain arrays: shapes, shares, and the errors a bad checkpoint gets."""

from __future__ import annotations

import numpy as np
import pytest

from ga_squad.reader.net2wider import resize_birnn

FW, BW = "l_rnn/birnn/forward_gru/gru_cell", "l_rnn/birnn/backward_gru/gru_cell"


def gru_arrays(units: int, inputs: int = 3, rng: np.random.Generator | None = None) -> dict[str, np.ndarray]:
    rng = rng or np.random.default_rng(0)
    out = {}
    for d in (FW, BW):
        out[f"{d}/kernel"] = rng.normal(size=(inputs, 3 * units)).astype(np.float32)
        out[f"{d}/recurrent_kernel"] = rng.normal(size=(units, 3 * units)).astype(np.float32)
        out[f"{d}/bias"] = rng.normal(size=(2, 3 * units)).astype(np.float32)
    return out


def shapes(arrays: dict[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
    return {p: a.shape for p, a in arrays.items()}


def test_widening_copies_gate_columns_and_splits_outgoing_rows_in_unequal_shares() -> None:
    parent = gru_arrays(2)
    target = {**shapes(gru_arrays(4)), "l_rnn/proj/kernel": (8, 4), "l_rnn/proj/bias": (4,)}
    child = resize_birnn(parent, target, seed=1)
    kernel = child[f"{FW}/kernel"].reshape(3, 3, 4)  # [inputs, gate, unit]
    np.testing.assert_array_equal(kernel[..., 2:], kernel[..., :2])  # unit j+2 copies unit j
    recurrent = child[f"{FW}/recurrent_kernel"]
    # The two copies' rows add up to the old unit's row (columns copied like the kernel's).
    np.testing.assert_allclose(recurrent[:2] + recurrent[2:], _columns_twice(parent[f"{FW}/recurrent_kernel"], 2),
                               rtol=1e-5)
    proj = child["l_rnn/proj/kernel"]
    np.testing.assert_allclose(proj[:2] + proj[2:4], np.eye(4)[:2], atol=1e-7)  # the identity, split
    assert not np.allclose(proj[:2], proj[2:4])  # unequal shares: the copies are not twins
    assert resize_birnn(parent, target, seed=1)["l_rnn/proj/kernel"].tolist() == proj.tolist()


def _columns_twice(value: np.ndarray, units: int) -> np.ndarray:
    """Every gate block's columns repeated once (unit j and its copy j + units)."""
    blocks = value.reshape(value.shape[0], -1, units)
    return np.concatenate([blocks, blocks], axis=-1).reshape(value.shape[0], -1)


def test_a_target_the_parent_cannot_fill_is_refused_naming_the_variable() -> None:
    parent = gru_arrays(2)
    del parent[f"{BW}/bias"]
    with pytest.raises(ValueError, match=r"^parent lacks l_rnn/birnn/backward_gru/gru_cell/bias$"):
        resize_birnn(parent, shapes(gru_arrays(4)), seed=0)
    with pytest.raises(ValueError, match="no forward recurrent kernel to resize"):
        resize_birnn({}, shapes(gru_arrays(4)), seed=0)


def test_an_inserted_rnns_residual_gate_carries_over_when_it_is_widened() -> None:
    """An inserted RNN is ``x + g * rnn(x)``: widening keeps ``rnn(x)``, so its gate ``g`` is copied."""
    parent = {**gru_arrays(2), "l_residual/gate": np.float32(0.37) * np.ones((), np.float32)}
    target = {**shapes(gru_arrays(4)), "l_rnn/proj/kernel": (8, 4), "l_rnn/proj/bias": (4,), "l_residual/gate": ()}
    child = resize_birnn(parent, target, seed=1)
    assert child["l_residual/gate"].shape == () and float(child["l_residual/gate"]) == pytest.approx(0.37)
    del parent["l_residual/gate"]
    with pytest.raises(ValueError, match=r"cannot map l_residual/gate: got None, want \(\)"):
        resize_birnn(parent, target, seed=1)

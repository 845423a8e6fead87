"""Shared pytest setup.

* The ``nni`` and ``slow`` markers are registered in ``pytest.ini``.
* Every test starts from the same global random state (keras-tuner's
  autouse seed fixture), so code that falls back on module-level RNGs cannot
  make a test order-dependent. Library code takes explicit seeds anyway.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

SEED = 1234


@pytest.fixture(autouse=True)
def _seed_everything() -> Iterator[None]:
    random.seed(SEED)
    try:
        import numpy as np
    except ImportError:  # pragma: no cover - numpy is a project requirement
        np = None
    if np is not None:
        np.random.seed(SEED)
    yield

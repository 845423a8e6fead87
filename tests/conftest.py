"""Shared pytest setup.

* The ``nni`` and ``slow`` markers are registered in ``pytest.ini``.
* Every test starts from the same global random state (keras-tuner's
  autouse seed fixture), so code that falls back on module-level RNGs cannot
  make a test order-dependent. Library code takes explicit seeds anyway.
* Hypothesis explores new examples on every local run (profile ``dev``); CI
  sets ``HYPOTHESIS_PROFILE=ci`` (``.ci/run``) so a landing never depends on
  the luck of the draw: the same examples every run, and a failure prints the
  blob that reproduces it.
* ``make test`` runs on pytest-xdist workers, one file at a time each, files
  handed out in collection order (``--no-loadscope-reorder``);
  :func:`pytest_collection_modifyitems` puts the files with nnictl
  experiments first, then those with slow tests, so the long ones start
  early and the many short files fill in at the end instead of one
  experiment running alone on one core while the other waits.
"""

from __future__ import annotations

import logging
import os
import random
from collections.abc import Iterator

import pytest
from hypothesis import settings

from ga_squad.launch.experiment import Experiment, experiment_processes

SEED = 1234

settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def _module_rank(items: list[pytest.Item]) -> int:
    """0: the file starts an NNI experiment; 1: it has a slow test; 2: the rest."""
    marks = {m.name for item in items for m in item.iter_markers()}
    return 0 if "nni" in marks else 1 if "slow" in marks else 2


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Longest files first (by their markers), the order within a file and among equals kept."""
    by_file: dict[str, list[pytest.Item]] = {}
    for item in items:
        by_file.setdefault(item.nodeid.split("::")[0], []).append(item)
    ranked = sorted(by_file.values(), key=_module_rank)  # stable: collection order among equals
    items[:] = [item for group in ranked for item in group]


@pytest.fixture(autouse=True, scope="session")
def _tensorflow_without_graph_rewrites() -> None:
    """In-process tests run TensorFlow functions without Grappler's graph rewrites.

    Tests train tiny models for a step or an epoch, so a function runs a few
    times after it is traced; rewriting each new graph (the RNN loops and their
    gradients) cost about a quarter of the CPU of the training tests and saves
    nothing at that size. The rewrites do not change what a model computes
    beyond float rounding. Trials run as subprocesses (NNI, the standalone trial)
    keep TensorFlow's defaults, as users run them. Applied only where a collected
    module has loaded TensorFlow: a run of pure tests never imports it.
    """
    import sys

    if "tensorflow" in sys.modules:
        sys.modules["tensorflow"].config.optimizer.set_experimental_options({"disable_meta_optimizer": True})


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


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    """Undo a CLI's ``logging.basicConfig(force=True)`` run in-process.

    The handler it installs writes to the ``sys.stderr`` of that test, which
    pytest closes afterwards: later tests' warnings would print "Logging
    error: I/O operation on closed file" instead of reaching the capture.
    """
    root = logging.getLogger()
    before, level = set(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        if type(handler) is logging.StreamHandler and handler not in before:  # basicConfig's, not pytest's
            root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def experiments() -> Iterator[list[Experiment]]:
    """Every NNI experiment a test starts (append it); all are stopped, whatever happens.

    Stops each one by its own id, then checks that none of its processes
    survives; reports every problem at once.
    """
    started: list[Experiment] = []
    yield started
    problems = []
    for experiment in started:
        try:
            experiment.stop()
        except Exception as exc:  # report all, stop all
            problems.append(exc)
        if experiment_processes(experiment.id, experiment.spec.working_directory / experiment.id):
            problems.append(f"processes of {experiment.id} survive")
    assert not problems, problems

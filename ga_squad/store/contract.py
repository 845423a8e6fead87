"""The parameter contract between the tuner and a trial.

The tuner sends one JSON object per trial; the trial reads it back with
:meth:`TrialParams.from_dict`. Example (what ``nni.get_next_parameter()``
returns inside a trial)::

    {
      "contract": 2,
      "indiv_id": 12,
      "parent_id": 7,                       # null for a cold start
      "graph": {...},                       # ga_squad.search.graph.Graph.to_dict()
      "restore_dir": "/shared/ga/EXP/individuals/000007",  # parent's checkpoint dir, or null
      "save_dir": "/shared/ga/EXP/individuals/000012",     # where this trial publishes its own
      "shared_ids": ["9be2d856dd417892", ...],             # weight ids (uids) to inherit, or null
      "mutation": "insert_rnn(h3->[h8]->begin)",
      "seed": 1234,
      "fitness": {"key": "val_loss", "mode": "minimize"}  # what the search ranks by
    }

A trial loads exactly the layers in ``shared_ids`` from ``restore_dir`` and
initialises every other layer fresh. ``restore_dir`` and ``shared_ids`` are
both null or both set.

``shared_ids`` are *weight ids*, the persistent uids of the layers the
child kept with unchanged weight shapes
(:meth:`~ga_squad.search.graph.Graph.shared_ids`), not only those whose whole
upstream is unchanged. Parameters of another ``contract`` version are
refused with a :class:`ContractError` naming it.

``fitness`` (optional; absent means ``default``, maximised: the validation
F1) is the search's :class:`~ga_squad.search.fitness.Fitness`: the trial keeps
the epoch that is best by it (the lowest validation loss when the search ranks
by ``val_loss``), so a trial and its search optimise the same thing.

The trial's final result is a dict with ``default`` (F1 on the validation
articles held out of the training file, what NNI displays; the search ranks by
its ``fitness`` key), ``val_f1``/``val_em``/``val_loss`` (of the kept epoch),
``dev_f1``/``dev_em`` (the dev set, scored once on the published weights and
never selected on; ``f1``/``em`` repeat them) and more (docs/design.md, "The
parameter contract", lists every key). It also names the individual it ran
(``indiv_id``, read back by :func:`result_indiv_id`), because NNI 3.0's local
service may hand a trial another trial's parameters.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ga_squad.search.fitness import Fitness, FitnessError
from ga_squad.search.graph import Graph
from ga_squad.store.paths import ensure_inside

CONTRACT_VERSION = 2


def result_indiv_id(value: Any) -> int | None:
    """The individual a reported result names (``indiv_id``), or None if it names none.

    This, not NNI's parameter record, says which individual a result belongs
    to: NNI 3.0's local training service can swap parameters between trials
    started together.
    """
    claimed = value.get("indiv_id") if isinstance(value, Mapping) else None
    return claimed if isinstance(claimed, int) and not isinstance(claimed, bool) else None


RESULT_SPLITS = ("val", "dev")


def result_score(result: Mapping[str, Any], metric: str = "f1", *, split: str = "val",
                 initial: bool = False) -> float | None:
    """One score of a trial's result: the value of its key ``[initial_]<split>_<metric>``.

    Trials hold out a validation split: ``val_f1``/``val_em``/``val_loss``
    (``default`` is ``val_f1``) are what the search selects on,
    ``dev_f1``/``dev_em`` the official dev set scored once for reporting,
    ``initial_val_f1``... the start before training. The bare keys (``f1``,
    ``em``) repeat the *dev* scores: a validation score is never read from
    them. Every reader of results (the analysis, the simulations, the
    benchmarks) goes through here.

    Args:
        result: A trial result, per-epoch metrics or trial summary dict.
        metric: Base name: ``"f1"``, ``"em"``, ``"loss"``.
        split: ``"val"`` (the fitness) or ``"dev"`` (held out).
        initial: The score before training (``initial_...``).

    Returns:
        The value as a float; None when absent, not a number (a bool is not
        one) or NaN.

    Raises:
        MissingScore: for a validation score asked of a result that has only
            the bare key (``f1`` without ``val_f1``: the bare key is a dev
            score); the message names the key.
    """
    if split not in RESULT_SPLITS:
        raise ValueError(f"split must be one of {RESULT_SPLITS}, got {split!r}")
    prefix = "initial_" if initial else ""
    key, bare = f"{prefix}{split}_{metric}", f"{prefix}{metric}"
    if split == "val" and key not in result and _number(result.get(bare)) is not None:
        raise MissingScore(f"the result has no {key!r} (its {bare!r} is the dev set's, never a validation score)")
    return _number(result.get(key))


def _number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return None if math.isnan(value) else float(value)
    return None


class MissingScore(ValueError):
    """A result lacks the validation score asked for; the message names the key."""


class ContractError(ValueError):
    """Trial parameters do not follow the contract; the message names the field."""


@dataclass(frozen=True)
class TrialParams:
    """What one trial is asked to do.

    Attributes:
        indiv_id: This individual's id (unique within a search, never reused).
        parent_id: The parent's id, or None for a cold start.
        graph: The architecture to build.
        restore_dir: The parent's checkpoint directory, or None.
        save_dir: Where this trial publishes its checkpoint.
        shared_ids: Weight ids (uids) the child inherits from its parent, or None.
        mutation: How the graph was derived from the parent (for humans).
        seed: Seed for this trial's initialisation and data order.
        fitness: What the search ranks by; the trial keeps its best epoch by it.
    """

    indiv_id: int
    parent_id: int | None
    graph: Graph
    restore_dir: str | None
    save_dir: str
    shared_ids: frozenset[str] | None
    mutation: str = ""
    seed: int = 0
    fitness: Fitness = Fitness()

    def __post_init__(self) -> None:
        if (self.restore_dir is None) != (self.shared_ids is None):
            raise ContractError("restore_dir and shared_ids must be both null or both set")
        if self.restore_dir is not None and self.parent_id is None:
            raise ContractError("restore_dir is set but parent_id is null")

    @property
    def warm_start(self) -> bool:
        return self.restore_dir is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "contract": CONTRACT_VERSION,
            "indiv_id": self.indiv_id,
            "parent_id": self.parent_id,
            "graph": self.graph.to_dict(),
            "restore_dir": self.restore_dir,
            "save_dir": self.save_dir,
            "shared_ids": sorted(self.shared_ids) if self.shared_ids is not None else None,
            "mutation": self.mutation,
            "seed": self.seed,
            "fitness": self.fitness.to_dict(),
        }

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], storage_root: str | os.PathLike[str] | None = None
    ) -> TrialParams:
        """Parse and validate; with ``storage_root``, also check no path escapes it."""
        if not isinstance(data, Mapping):
            raise ContractError(f"trial parameters must be a JSON object, got {type(data).__name__}")
        version = data.get("contract", CONTRACT_VERSION)
        if version != CONTRACT_VERSION:
            raise ContractError(f"contract version {version!r} not supported (expected {CONTRACT_VERSION})")
        for key in ("indiv_id", "graph", "save_dir"):
            if key not in data:
                raise ContractError(f"trial parameters lack {key!r}")
        indiv_id = _int_field(data, "indiv_id")
        parent_id = None if data.get("parent_id") is None else _int_field(data, "parent_id")
        shared = data.get("shared_ids")
        if shared is not None and (not isinstance(shared, list) or not all(isinstance(s, str) for s in shared)):
            raise ContractError("shared_ids must be a list of weight id strings or null")
        restore_dir = data.get("restore_dir")
        save_dir = data["save_dir"]
        if storage_root is not None:
            save_dir = str(ensure_inside(save_dir, storage_root))
            if restore_dir is not None:
                restore_dir = str(ensure_inside(restore_dir, storage_root))
        return cls(
            indiv_id=indiv_id,
            parent_id=parent_id,
            graph=Graph.from_dict(data["graph"]),
            restore_dir=restore_dir,
            save_dir=str(save_dir),
            shared_ids=frozenset(shared) if shared is not None else None,
            mutation=str(data.get("mutation", "")),
            seed=_int_field(data, "seed") if "seed" in data else 0,
            fitness=_fitness_field(data),
        )


def _fitness_field(data: Mapping[str, Any]) -> Fitness:
    """The contract's ``fitness`` (absent: ``default``, maximised)."""
    if data.get("fitness") is None:
        return Fitness()
    try:
        return Fitness.from_dict(data["fitness"])
    except FitnessError as exc:
        raise ContractError(f"fitness: {exc}") from None


def _int_field(data: Mapping[str, Any], key: str) -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ContractError(f"{key} must be a non-negative integer, got {value!r}")
    return value

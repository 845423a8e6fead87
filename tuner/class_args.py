"""The tuner's ``classArgs``: their schema and where ``save_dir_root`` points.

Kept apart from :mod:`tuner.ga_tuner` so that ``python -m ga_squad run`` can
check a config's ``classArgs`` before it launches anything: NNI reports a
tuner that raises in its constructor only as "Tuner did not connect in 10
seconds", with the real error buried in ``dispatcher.log``. The module imports
NNI's small ``ClassArgsValidator`` base and ``schema`` (an NNI dependency),
nothing heavy, so the tuner still starts well within NNI's fixed 10 s
connect timeout.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from nni import ClassArgsValidator
from schema import And, Optional, Schema, SchemaError

from ga_squad.search.fitness import EPOCH_METRICS, Fitness
from ga_squad.search.space import SearchSpace

__all__ = ["ClassArgsError", "GaSquadClassArgsValidator", "REPO_ROOT", "resolve_storage_root",
           "validate_class_args"]

REPO_ROOT = Path(__file__).resolve().parents[1]


class ClassArgsError(ValueError):
    """One ``classArgs`` entry is missing, unknown or out of range (one-line message)."""


def resolve_storage_root(save_dir_root: str) -> Path:
    """``~`` expanded; a relative root is taken relative to the repository root.

    NNI starts the tuner in a working directory of its choosing, so a relative
    path must not depend on it: ``save_dir_root: runs`` in ``config.yml``
    always means ``<repo>/runs``.
    """
    root = Path(os.path.expanduser(save_dir_root))
    return root if root.is_absolute() else REPO_ROOT / root


def _integer(key: str, minimum: int) -> And:
    """An int (not a bool) >= ``minimum``; the message names the key."""
    return And(lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= minimum,
               error=f"{key}: must be an integer >= {minimum}")


def _boolean(key: str) -> And:
    return And(bool, error=f"{key}: must be true or false")


def _valid_search_space(value: Any) -> bool:
    """``SearchSpace.from_dict`` accepts it (its own message names the bad entry)."""
    if value is None:
        return True
    if not isinstance(value, dict):
        raise SchemaError("search_space: must be a mapping (presets, layer_types, features, pointers, mutations)")
    try:
        SearchSpace.from_dict(value)
    except (TypeError, ValueError) as exc:
        raise SchemaError(f"search_space: {exc}") from None
    return True


class GaSquadClassArgsValidator(ClassArgsValidator):
    """NNI's validator pattern (see ``nni/algorithms/hpo/evolution_tuner.py``) for GaSquadTuner.

    The keys are the tuner constructor's keyword arguments; a test keeps the
    two lists equal, so a new tuner argument cannot be forgotten here.
    """

    SCHEMA = Schema({
        "save_dir_root": And(str, len, error="save_dir_root: must be a non-empty path"),
        Optional("optimize_mode"): And(lambda v: v in ("maximize", "minimize"),
                                       error="optimize_mode: must be maximize or minimize"),
        Optional("population_size"): _integer("population_size", 1),
        Optional("min_layers"): _integer("min_layers", 1),
        Optional("max_layers"): _integer("max_layers", 1),
        Optional("seed"): _integer("seed", 0),
        Optional("tournament_size"): _integer("tournament_size", 1),
        Optional("initial_mutations"): _integer("initial_mutations", 0),
        Optional("aging"): _boolean("aging"),
        Optional("siblings"): _integer("siblings", 1),
        Optional("control"): _boolean("control"),
        Optional("fitness"): And(lambda v: v in EPOCH_METRICS,
                                 error=f"fitness: must be one of {', '.join(EPOCH_METRICS)} (what a trial measures "
                                       f"on the validation split after every epoch; default is val_f1)"),
        Optional("experiment_id"): And(lambda v: v is None or (isinstance(v, str) and v != ""),
                                       error="experiment_id: must be a non-empty string"),
        Optional("fsync"): _boolean("fsync"),
        Optional("search_space"): _valid_search_space,  # raises naming the bad entry
        Optional("keep"): And(lambda v: v is None or v == "all" or (isinstance(v, int) and not isinstance(v, bool)
                                                                    and v >= 0),
                              error="keep: must be 'all' or a whole number >= 0 (top-k kept besides the "
                                    "population and parents of running children)"),
    })

    def validate_class_args(self, **kwargs: Any) -> None:
        """Raise :class:`ClassArgsError` with a one-line message naming the first bad key."""
        known = {getattr(key, "schema", key) for key in self.SCHEMA.schema}
        unknown = sorted(set(kwargs) - known)
        if unknown:
            raise ClassArgsError(f"{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
        if "save_dir_root" not in kwargs:
            raise ClassArgsError("save_dir_root: required (the storage root shared by tuner and trials)")
        try:
            self.SCHEMA.validate(kwargs)
        except SchemaError as exc:
            # our own messages first; else schema's innermost one (a validator that raised)
            messages = [m for m in exc.errors if m] or [m for m in exc.autos if m][-1:]
            raise ClassArgsError(messages[0] if messages else str(exc)) from None
        low, high = kwargs.get("min_layers", 1), kwargs.get("max_layers", 12)
        if high < low:
            raise ClassArgsError(f"max_layers: must be >= min_layers ({high} < {low})")
        if kwargs.get("control") and kwargs.get("siblings", 1) < 2:
            raise ClassArgsError("control: needs siblings >= 2 (the control is one child of each brood)")
        _check_directions(kwargs.get("fitness", "default"), kwargs.get("optimize_mode", "maximize"))


def _check_directions(fitness: str, optimize_mode: str) -> None:
    """Refuse ``optimize_mode: minimize``: the trials' ``default`` metric is a validation F1.

    ``optimize_mode`` is the order NNI (and its web UI) sorts ``default`` in,
    and the search's direction when it ranks by ``default``; minimising an F1
    is never meant. The fitness key carries its own direction
    (:mod:`ga_squad.search.fitness`): a loss is minimised without help.
    """
    if optimize_mode != "minimize":
        return
    fit = Fitness.resolve(fitness, optimize_mode)
    if fitness == "default":
        raise ClassArgsError("optimize_mode: minimize would rank the trials' default metric, the validation F1, "
                             "lower-is-better; keep optimize_mode: maximize, and set fitness: val_loss to rank by "
                             "validation loss (a loss is minimized)")
    raise ClassArgsError(f"optimize_mode: minimize would make NNI show the lowest validation F1 (the trials' "
                         f"default metric) as best; keep optimize_mode: maximize: fitness {fit.describe()} "
                         f"takes its direction from its key")


def validate_class_args(class_args: dict[str, Any]) -> None:
    """Check a config's tuner ``classArgs``; raises :class:`ClassArgsError`."""
    GaSquadClassArgsValidator().validate_class_args(**class_args)

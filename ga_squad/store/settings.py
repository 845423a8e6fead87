"""The tuner's ``classArgs``: one dataclass holds their names, defaults, checks and docs.

``tuner/ga_tuner.py`` builds its engine from a :class:`TunerSettings`,
``tuner/class_args.py`` (NNI's validator hook) and ``ga-squad run`` (before it
launches anything) check a config through :meth:`TunerSettings.from_class_args`,
and the table of settings in the docs is :func:`settings_table`. The evolution
defaults are :class:`~ga_squad.search.evolution.EvolutionConfig`'s own, so
nothing here restates them.

Checks give one line naming the key: NNI reports a tuner that raises in its
constructor only as "Tuner did not connect in 10 seconds", so ``ga-squad run``
makes the same check first and prints the line itself.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields
from pathlib import Path
from typing import Any

from ga_squad.search.evolution import EvolutionConfig
from ga_squad.search.fitness import EPOCH_METRICS, Fitness, FitnessError
from ga_squad.search.space import SearchSpace
from ga_squad.store.retention import RetentionConfig

__all__ = ["REPO_ROOT", "ClassArgsError", "TunerSettings", "resolve_storage_root", "settings_table",
           "validate_class_args"]

#: The repository (or installed source tree) root: a relative ``save_dir_root`` is relative to it.
REPO_ROOT = Path(__file__).resolve().parents[2]
_EVOLUTION = EvolutionConfig()


class ClassArgsError(ValueError):
    """One ``classArgs`` entry is missing, unknown or out of range (one-line message)."""


def resolve_storage_root(save_dir_root: str | os.PathLike[str]) -> Path:
    """``~`` expanded; a relative root is taken relative to the repository root.

    NNI starts the tuner in a working directory of its choosing, so a relative
    path must not depend on it: ``save_dir_root: runs`` in ``config.yml``
    always means ``<repo>/runs``.
    """
    root = Path(os.path.expanduser(save_dir_root))
    return root if root.is_absolute() else REPO_ROOT / root


def _doc(text: str, minimum: int | None = None) -> dict[str, Any]:
    return {"doc": text, "min": minimum}


@dataclass(frozen=True)
class TunerSettings:
    """Every ``classArgs`` key of ``tuner.ga_tuner.GaSquadTuner``, with its default."""

    save_dir_root: str = field(metadata=_doc(
        "Storage root shared by tuner and trials (every trial machine must see it); the search lives in "
        "`<save_dir_root>/<experiment id>/`. Relative: to the repository root."))
    optimize_mode: str = field(default="maximize", metadata=_doc(
        "NNI's order of the trials' `default` metric (the validation F1): keep `maximize`; `minimize` is refused."))
    fitness: str = field(default=_EVOLUTION.fitness, metadata=_doc(
        "What the search ranks by: `default`/`val_f1`, `val_em` (higher is better) or `val_loss` (lower is "
        "better); every trial keeps its best epoch by it."))
    population_size: int = field(default=_EVOLUTION.population_size, metadata=_doc(
        "Reported individuals kept, and the number of cold starts.", 1))
    tournament_size: int = field(default=_EVOLUTION.tournament_size, metadata=_doc(
        "Members sampled per parent selection (clamped to the population); 1 with `aging: false` and "
        "population 1 is hill climbing.", 1))
    aging: bool = field(default=_EVOLUTION.aging, metadata=_doc(
        "Remove the oldest member (regularized evolution) or, with `false`, the worst."))
    initial_mutations: int = field(default=_EVOLUTION.initial_mutations, metadata=_doc(
        "Mutations of the base reader per cold start (presets start unmutated).", 0))
    min_layers: int = field(default=_EVOLUTION.min_layers, metadata=_doc("Fewest hidden layers.", 1))
    max_layers: int = field(default=_EVOLUTION.max_layers, metadata=_doc("Most hidden layers.", 1))
    seed: int = field(default=_EVOLUTION.seed, metadata=_doc(
        "Seed of the search (same seed and same results: the same proposals).", 0))
    siblings: int = field(default=_EVOLUTION.siblings, metadata=_doc(
        "Children proposed from one selected parent before the next selection.", 1))
    control: bool = field(default=_EVOLUTION.control, metadata=_doc(
        "With siblings >= 2, the first child of each brood is the parent unchanged."))
    search_space: Mapping[str, Any] | None = field(default=None, metadata=_doc(
        "Presets to start from, layer types, features, pointers and mutation weights "
        "(`ga_squad.search.space`); none: mutated base readers, every mutation."))
    keep: int | str | None = field(default="all", metadata=_doc(
        "Checkpoint retention: `all`, or k to keep the population, the parents of running children and the "
        "k best.", 0))
    experiment_id: str | None = field(default=None, metadata=_doc(
        "Override of the experiment id (default: NNI's)."))

    @classmethod
    def from_class_args(cls, class_args: Mapping[str, Any]) -> TunerSettings:
        """Check ``class_args`` and fill in the defaults.

        Raises:
            ClassArgsError: naming the first key that is unknown, missing or out of range.
        """
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(class_args) - set(known))
        if unknown:
            raise ClassArgsError(f"{unknown[0]}: unknown key (known: {', '.join(sorted(known))})")
        if "save_dir_root" not in class_args:
            raise ClassArgsError("save_dir_root: required (the storage root shared by tuner and trials)")
        for f in fields(cls):
            if f.name in class_args:
                _check(f.name, class_args[f.name], f.type, f.metadata["min"])
        settings = cls(**class_args)
        if settings.max_layers < settings.min_layers:
            raise ClassArgsError(f"max_layers: must be >= min_layers ({settings.max_layers} < {settings.min_layers})")
        if settings.control and settings.siblings < 2:
            raise ClassArgsError("control: needs siblings >= 2 (the control is one child of each brood)")
        _check_directions(settings.fitness, settings.optimize_mode)
        settings.space()  # raises naming the bad entry
        return settings

    def evolution(self) -> EvolutionConfig:
        return EvolutionConfig(**{f.name: getattr(self, f.name) for f in fields(EvolutionConfig)})

    def retention(self) -> RetentionConfig:
        return RetentionConfig.from_arg(self.keep)

    def space(self) -> SearchSpace | None:
        """The search space, or None (mutated base readers, every mutation)."""
        if self.search_space is None:
            return None
        if not isinstance(self.search_space, Mapping):
            raise ClassArgsError("search_space: must be a mapping (presets, layer_types, features, pointers, "
                                 "mutations)")
        try:
            return SearchSpace.from_dict(self.search_space)
        except (TypeError, ValueError) as exc:
            raise ClassArgsError(f"search_space: {exc}") from None

    def storage_root(self) -> Path:
        return resolve_storage_root(self.save_dir_root)


def _check(key: str, value: Any, kind: str, minimum: int | None) -> None:
    """One key's type and range (``kind`` is the field's annotation, as written)."""
    if key == "save_dir_root":
        ok, why = isinstance(value, str) and value != "", "must be a non-empty path"
    elif key == "optimize_mode":
        ok, why = value in ("maximize", "minimize"), "must be maximize or minimize"
    elif key == "fitness":
        ok = value in EPOCH_METRICS
        why = (f"must be one of {', '.join(EPOCH_METRICS)} (what a trial measures on the validation split after "
               f"every epoch; default is val_f1)")
    elif key == "keep":
        ok = value is None or value == "all" or (isinstance(value, int) and not isinstance(value, bool) and value >= 0)
        why = ("must be 'all' or a whole number >= 0 (top-k kept besides the population and parents of running "
               "children)")
    elif key == "experiment_id":
        ok, why = value is None or (isinstance(value, str) and value != ""), "must be a non-empty string"
    elif kind == "bool":
        ok, why = isinstance(value, bool), "must be true or false"
    elif kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= (minimum or 0)
        why = f"must be an integer >= {minimum or 0}"
    else:
        return  # search_space: checked whole by TunerSettings.space
    if not ok:
        raise ClassArgsError(f"{key}: {why}")


def _check_directions(fitness: str, optimize_mode: str) -> None:
    """Refuse ``optimize_mode: minimize``: the trials' ``default`` metric is a validation F1.

    ``optimize_mode`` is the order NNI (and its web UI) sorts ``default`` in,
    and the search's direction when it ranks by ``default``; minimising an F1
    is never meant. The fitness key carries its own direction
    (:mod:`ga_squad.search.fitness`): a loss is minimised without help.
    """
    if optimize_mode != "minimize":
        return
    if fitness == "default":
        raise ClassArgsError("optimize_mode: minimize would rank the trials' default metric, the validation F1, "
                             "lower-is-better; keep optimize_mode: maximize, and set fitness: val_loss to rank by "
                             "validation loss (a loss is minimized)")
    try:
        described = Fitness.resolve(fitness, optimize_mode).describe()
    except FitnessError:
        described = fitness
    raise ClassArgsError(f"optimize_mode: minimize would make NNI show the lowest validation F1 (the trials' "
                         f"default metric) as best; keep optimize_mode: maximize: fitness {described} "
                         f"takes its direction from its key")


def validate_class_args(class_args: Mapping[str, Any]) -> TunerSettings:
    """:meth:`TunerSettings.from_class_args`, by the name the launcher and NNI's hook call."""
    return TunerSettings.from_class_args(class_args)


def settings_table() -> str:
    """The docs' table of ``classArgs``: key, default, meaning (from the dataclass itself)."""
    rows = ["| key | default | meaning |", "| --- | --- | --- |"]
    for f in fields(TunerSettings):
        default = "required" if f.default is MISSING else f"`{'null' if f.default is None else f.default}`"
        default = default.replace("`True`", "`true`").replace("`False`", "`false`")
        rows.append(f"| `{f.name}` | {default} | {f.metadata['doc']} |")
    return "\n".join(rows) + "\n"

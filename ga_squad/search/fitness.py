"""What a search ranks by: one result key and its direction, always together.

Ray Tune's ``ResultGrid.get_best_result(metric, mode)`` takes the metric and
its mode in one call because a score without a direction is half a fact: a
search ranked by validation loss once had its *worst* individual exported,
by a reader that assumed higher was better. :class:`Fitness` is that pair. The
tuner builds it once (:attr:`~ga_squad.search.evolution.EvolutionConfig.fitness_spec`),
writes it in the journal's first event, hands it to every trial (which keeps
its best epoch by it) and every reader of a search ranks with it
(:mod:`ga_squad.store.best`).

Where the direction comes from
------------------------------
A key whose meaning is known carries its own direction, whatever
``optimize_mode`` says: a loss (``val_loss``, any key ending in ``loss``) is
minimised, an F1 or exact match (``val_f1``, ``val_em``, ``*_f1``, ``*_em``)
maximised. ``optimize_mode`` is NNI's setting: the order in which NNI (its web
UI included) sorts the ``default`` metric a trial reports, which for this
project's trials is the validation F1. So ``default`` takes its direction from
``optimize_mode``, and a key of unknown meaning does too (recorded as given).
``config.yml``'s ``optimize_mode: maximize`` with ``fitness: val_loss`` is
therefore consistent: NNI shows F1 best-first, the search minimises the loss.
A :class:`Fitness` whose direction contradicts its key's is refused.

Pure Python (no NNI, no TensorFlow): the tuner, the trial and the analysis all
import it.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DEFAULT_KEY",
    "EPOCH_METRICS",
    "Fitness",
    "FitnessError",
    "OptimizeMode",
    "known_direction",
]

DEFAULT_KEY = "default"


class OptimizeMode(str, enum.Enum):
    """Whether a higher or a lower score is better."""

    MAXIMIZE = "maximize"
    MINIMIZE = "minimize"


class FitnessError(ValueError):
    """A fitness key or direction that cannot be used; the message names it."""


#: Fitness key -> the per-epoch validation metric a trial keeps its best epoch by
#: (:func:`ga_squad.reader.training.run_trial`). ``default`` is the validation F1.
EPOCH_METRICS: Mapping[str, str] = {DEFAULT_KEY: "val_f1", "val_f1": "val_f1", "val_em": "val_em",
                                    "val_loss": "val_loss"}


def known_direction(key: str) -> OptimizeMode | None:
    """The direction a metric key implies by its name, or None (``default`` and unknown keys).

    Loss keys (ending in ``loss``) are minimised; F1 and exact-match keys
    (``f1``, ``em`` or ending in ``_f1``/``_em``) maximised.
    """
    if key.endswith("loss"):
        return OptimizeMode.MINIMIZE
    if key in ("f1", "em") or key.endswith(("_f1", "_em")):
        return OptimizeMode.MAXIMIZE
    return None


@dataclass(frozen=True)
class Fitness:
    """The result key a search ranks individuals by, and which way is better.

    Attributes:
        key: A key of the trial's final result (``default``, ``val_loss``, ...).
        mode: Whether higher (``maximize``) or lower (``minimize``) is better.

    Raises:
        FitnessError: for an empty key, or a mode that contradicts the key's
            known direction (e.g. ``val_loss`` maximised).
    """

    key: str = DEFAULT_KEY
    mode: OptimizeMode = OptimizeMode.MAXIMIZE

    def __post_init__(self) -> None:
        if not isinstance(self.key, str) or not self.key:
            raise FitnessError(f"fitness must be the name of a reported metric, got {self.key!r}")
        try:
            object.__setattr__(self, "mode", OptimizeMode(self.mode))
        except ValueError:
            raise FitnessError(f"fitness direction must be maximize or minimize, got {self.mode!r}") from None
        implied = known_direction(self.key)
        if implied is not None and implied is not self.mode:
            what = "a loss: lower is better" if implied is OptimizeMode.MINIMIZE else "a score: higher is better"
            raise FitnessError(f"fitness {self.key!r} cannot be {self.mode.value}d ({what})")

    @classmethod
    def resolve(cls, key: str, optimize_mode: OptimizeMode | str = OptimizeMode.MAXIMIZE) -> Fitness:
        """The fitness of a search configured with ``fitness: key`` and ``optimize_mode``.

        A key of known meaning takes its own direction; ``default`` and other
        keys take ``optimize_mode`` (see the module docstring).
        """
        if not isinstance(key, str) or not key:
            raise FitnessError(f"fitness must be the name of a reported metric, got {key!r}")
        return cls(key, known_direction(key) or OptimizeMode(optimize_mode))

    @property
    def maximize(self) -> bool:
        return self.mode is OptimizeMode.MAXIMIZE

    def better(self, a: float, b: float) -> bool:
        """Whether value ``a`` is strictly better than value ``b``."""
        return a > b if self.maximize else a < b

    def sort_key(self, value: float) -> float:
        """Ascending sort key: the best value sorts first."""
        return -value if self.maximize else value

    @property
    def epoch_metric(self) -> str:
        """The per-epoch validation metric a trial selects its kept epoch by.

        Raises:
            FitnessError: for a key the trial does not measure per epoch.
        """
        metric = EPOCH_METRICS.get(self.key)
        if metric is None:
            raise FitnessError(f"a trial cannot keep its best epoch by {self.key!r}: it measures "
                               f"{', '.join(sorted(EPOCH_METRICS))} on the validation split after every epoch "
                               f"(the dev set is scored once and never selected on)")
        return metric

    def describe(self) -> str:
        """E.g. ``val_loss (minimize)``."""
        return f"{self.key} ({self.mode.value})"

    def to_dict(self) -> dict[str, str]:
        return {"key": self.key, "mode": self.mode.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fitness:
        """Parse ``{"key": ..., "mode": ...}``.

        Raises:
            FitnessError: if it is not such a mapping.
        """
        if not isinstance(data, Mapping) or not isinstance(data.get("key"), str) or "mode" not in data:
            raise FitnessError(f"a fitness record is {{'key': ..., 'mode': 'maximize'|'minimize'}}, got {data!r}")
        return cls(data["key"], data["mode"])

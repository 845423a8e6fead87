"""NNI's ``classArgs`` validator hook for :class:`tuner.ga_tuner.GaSquadTuner`.

NNI calls it (``ClassArgsValidator``, the pattern of its built-in tuners) before it
builds the tuner; the keys, defaults and checks themselves are
:class:`ga_squad.store.settings.TunerSettings`, which ``ga-squad run`` also checks
before it launches anything. NNI's validator base is small, so the tuner still
starts well within NNI's fixed 10 s connect timeout.
"""

from __future__ import annotations

from typing import Any

from nni import ClassArgsValidator

from ga_squad.store.settings import ClassArgsError, TunerSettings, validate_class_args

__all__ = ["ClassArgsError", "GaSquadClassArgsValidator", "validate_class_args"]


class GaSquadClassArgsValidator(ClassArgsValidator):
    """Raise :class:`~ga_squad.store.settings.ClassArgsError` with a one-line message naming the first bad key."""

    def validate_class_args(self, **kwargs: Any) -> None:
        TunerSettings.from_class_args(kwargs)

"""Paired comparisons over seeds: the gap between two arms, with a bootstrap interval.

Every figure that says "A beats B" is a set of paired gaps ``A(seed) - B(seed)``
over report seeds (the same seed gives both arms the same data order and
initialisation stream), summarised by their mean and a 95 % percentile
bootstrap interval over seeds (Efron and Tibshirani 1993, ch. 13). With few
seeds the interval is wide; that is the point: it says how much the seeds
agree, not how good the best one was.

Pure functions, no I/O: the benchmark scripts and the docs call them.
"""

from __future__ import annotations

import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

__all__ = ["PairedGap", "bootstrap_interval", "paired_gap"]


@dataclass(frozen=True)
class PairedGap:
    """``a - b`` over the seeds both arms have.

    Attributes:
        seeds: The seeds compared, sorted.
        gaps: ``a[seed] - b[seed]`` per seed, in ``seeds`` order.
        mean: Mean gap.
        low: Lower end of the 95 % bootstrap interval of the mean.
        high: Upper end of it.
        wins: Seeds where ``a`` is strictly ahead.
    """

    seeds: tuple[int, ...]
    gaps: tuple[float, ...]
    mean: float
    low: float
    high: float
    wins: int

    def to_dict(self) -> dict[str, object]:
        return {"seeds": list(self.seeds), "gaps": [round(g, 4) for g in self.gaps], "mean": round(self.mean, 4),
                "ci95": [round(self.low, 4), round(self.high, 4)], "wins": self.wins}

    @classmethod
    def from_dict(cls, d: Mapping[str, object]) -> PairedGap:
        """The inverse of :meth:`to_dict` (a gap read back from a results file)."""
        low, high = d["ci95"]  # type: ignore[misc]
        return cls(tuple(int(s) for s in d["seeds"]), tuple(float(g) for g in d["gaps"]),  # type: ignore[union-attr]
                   float(d["mean"]), float(low), float(high), int(d["wins"]))  # type: ignore[arg-type]

    def text(self) -> str:
        """``+1.23 [−0.40, +2.90], ahead on 3 of 5 seeds``."""
        return (f"{self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}], ahead on {self.wins} of "
                f"{len(self.seeds)} seed{'s' if len(self.seeds) != 1 else ''}")


def bootstrap_interval(values: Sequence[float], *, level: float = 0.95, resamples: int = 10_000,
                       seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values``.

    Deterministic for a given ``seed``. One value gives a zero-width interval
    (there is no spread to resample), which the caller should not read as
    certainty; :class:`PairedGap` keeps the seed count beside it.

    Raises:
        ValueError: for no values or a level outside (0, 1).
    """
    if not values:
        raise ValueError("bootstrap_interval needs at least one value")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    rng = random.Random(seed)
    n = len(values)
    means = sorted(statistics.fmean(rng.choices(values, k=n)) for _ in range(resamples))
    tail = (1.0 - level) / 2.0
    low = means[int(tail * (resamples - 1))]
    high = means[int(round((1.0 - tail) * (resamples - 1)))]
    return low, high


def paired_gap(a: Mapping[int, float], b: Mapping[int, float], **bootstrap: float) -> PairedGap:
    """The paired gap ``a - b`` over the seeds present in both.

    Raises:
        ValueError: if the two arms share no seed.
    """
    seeds = tuple(sorted(set(a) & set(b)))
    if not seeds:
        raise ValueError(f"no seed in common: {sorted(a)} vs {sorted(b)}")
    gaps = tuple(float(a[s]) - float(b[s]) for s in seeds)
    low, high = bootstrap_interval(gaps, **bootstrap)  # type: ignore[arg-type]
    return PairedGap(seeds, gaps, statistics.fmean(gaps), low, high, sum(g > 0 for g in gaps))

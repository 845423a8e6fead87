"""What the benchmarks measured for the shipped design, stated by ``run`` beside one run's verdict.

One search against one training of the best preset is a single draw: on the bundled
sample the gap moves by several F1 from seed to seed (``docs/results.md``). The figure to
trust is the paired gap over report seeds fixed before the design was frozen
(``benchmarks/search_vs_baselines.py``, ``docs/protocol.md``). ``run`` reads it from the
committed summary so that a lucky or unlucky run does not speak alone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

__all__ = ["SHIPPED_SETTING", "TrackRecord", "load_track_record"]

#: The benchmark setting that reports the design shipped in ``config.yml`` (docs/protocol.md).
SHIPPED_SETTING = "sample_r2"
_GAP = "report: A-B dev_f1"


@dataclass(frozen=True)
class TrackRecord:
    """The search's dev-F1 gap to the best preset alone, paired over report seeds.

    Attributes:
        setting: The benchmark setting (``results/search_vs_baselines_<setting>.json``).
        seeds: The report seeds.
        mean: Mean gap (search minus best preset).
        low: Lower end of its 95 % bootstrap interval.
        high: Upper end.
        wins: Seeds on which the search was ahead.
    """

    setting: str
    seeds: tuple[int, ...]
    mean: float
    low: float
    high: float
    wins: int

    def text(self) -> str:
        return (f"measured for this configuration over report seeds {', '.join(map(str, self.seeds))} "
                f"(benchmarks/search_vs_baselines.py --setting {self.setting}; docs/results.md): search minus "
                f"the best preset alone, dev F1 {self.mean:+.2f} [{self.low:+.2f}, {self.high:+.2f}], ahead on "
                f"{self.wins} of {len(self.seeds)}; the run above is a single draw.")


def load_track_record(results_dir: Path, setting: str = SHIPPED_SETTING) -> TrackRecord | None:
    """The report-seed gap of ``setting`` from its committed summary; None if there is none."""
    path = Path(results_dir) / f"search_vs_baselines_{setting}.json"
    if not path.is_file():
        return None
    gap = json.loads(path.read_text(encoding="utf-8")).get("figures", {}).get("gaps", {}).get(_GAP)
    if gap is None:
        return None
    low, high = gap["ci95"]
    return TrackRecord(setting, tuple(int(s) for s in gap["seeds"]), float(gap["mean"]), float(low), float(high),
                       int(gap["wins"]))

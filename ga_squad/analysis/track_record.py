"""What the benchmarks measured for the shipped design, stated by ``run`` beside one run's verdict.

One search against one training of the best preset is a single draw: on the bundled
sample the gap moves by several F1 from seed to seed (``docs/results.md``). The figure to
trust is the paired gap over report seeds fixed before the design was frozen
(``benchmarks/search_vs_baselines.py``, ``docs/protocol.md``). ``run`` reads it from the
committed summary so that a lucky or unlucky run does not speak alone.
"""

from __future__ import annotations

import json
from pathlib import Path

from ga_squad.analysis.paired import PairedGap

__all__ = ["SHIPPED_SETTING", "load_track_record", "track_record_text"]

#: The benchmark setting that reports the design shipped in ``config.yml`` (docs/protocol.md).
SHIPPED_SETTING = "sample_r2"
_GAP = "report: A-B dev_f1"


def load_track_record(results_dir: Path, setting: str = SHIPPED_SETTING) -> PairedGap | None:
    """The search's dev-F1 gap to the best preset over ``setting``'s report seeds; None if not recorded."""
    path = Path(results_dir) / f"search_vs_baselines_{setting}.json"
    if not path.is_file():
        return None
    gap = json.loads(path.read_text(encoding="utf-8")).get("figures", {}).get("gaps", {}).get(_GAP)
    return None if gap is None else PairedGap.from_dict(gap)


def track_record_text(gap: PairedGap, setting: str = SHIPPED_SETTING) -> str:
    return (f"measured for this configuration over report seeds {', '.join(map(str, gap.seeds))} "
            f"(benchmarks/search_vs_baselines.py --setting {setting}; docs/results.md): search minus the best "
            f"preset alone, dev F1 {gap.text()}; the run above is a single draw.")

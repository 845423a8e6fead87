"""Inspect a finished (or running) search: leaderboard, curves, lineage, summary.

Everything here works from the files a search leaves behind
(``<save_dir_root>/<experiment_id>/lineage.jsonl`` and the individuals'
checkpoints), so no running NNI is needed; NNI's own trial records can be
joined in when the experiment is still reachable (:func:`fetch_nni_trials`).

The functions are pure over a loaded :class:`Search` and return small frozen
dataclasses; :mod:`ga_squad.analysis.plots` draws them, :mod:`ga_squad.analysis.reevaluate`
reloads the best checkpoint (TensorFlow is imported only there), and
``notebooks/evaluate_best.ipynb`` and :func:`cli` (``python -m ga_squad
report SAVE_DIR_ROOT``) call them.

NNI 3.0 may swap the ``hyperParameters`` records of trials started together,
so an NNI trial is mapped to its individual through the ``indiv_id`` of its
final metric, never through NNI's parameter record.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import logging
import math
import os
import sys
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ga_squad.cli.common import (UserError, add_log_level, import_tensorflow, is_debug, log_level_of, run_command,
                                 setup_logging)
from ga_squad.search.contract import result_indiv_id
from ga_squad.search.evolution import Status
from ga_squad.search.journal import IndividualRecord, read_events, replay, report_order
from ga_squad.search.paths import INDIVIDUALS_DIR, JOURNAL_NAME

__all__ = [
    "EpochGroup",
    "LeaderboardRow",
    "LineageEdge",
    "NniTrial",
    "Search",
    "TrialPoint",
    "WarmColdComparison",
    "cli",
    "fetch_nni_trials",
    "f1_by_id",
    "default_cache_dir",
    "find_search_dir",
    "generations",
    "leaderboard",
    "leaderboard_markdown",
    "lineage_edges",
    "lineage_markdown",
    "nni_markdown",
    "overview_markdown",
    "load_search",
    "PairedChild",
    "paired_children",
    "paired_markdown",
    "parse_nni_trials",
    "trial_curve",
    "warm_cold_markdown",
    "warm_vs_cold",
    "with_nni",
    "write_report",
]

logger = logging.getLogger(__name__)

FIGURES = {
    "curve": "f1_over_trials.png",
    "lineage": "lineage.png",
    "architecture": "best_architecture.png",
    "warm_cold": "warm_vs_cold.png",
    "paired": "warm_vs_cold_paired.png",  # only with a no-sharing replay (--cold-experiment)
}
SUMMARY_NAME = "summary.md"
LEADERBOARD_CSV = "leaderboard.csv"
REPORT_JSON = "report.json"


# --- loading --------------------------------------------------------------------
def _is_search_dir(path: Path) -> bool:
    return (path / JOURNAL_NAME).is_file()


def find_search_dir(path: str | os.PathLike[str], experiment_id: str | None = None) -> Path:
    """The folder of one search.

    Args:
        path: Either a search folder (holding ``lineage.jsonl``) or a storage
            root holding experiment folders.
        experiment_id: Pick this experiment under the root; None picks the
            one whose journal was written last.

    Returns:
        The search folder.

    Raises:
        FileNotFoundError: if there is no such search.
    """
    base = Path(path)
    if experiment_id is not None:
        candidate = base / experiment_id
        if _is_search_dir(candidate):
            return candidate
        if _is_search_dir(base) and base.name == experiment_id:
            return base
        raise FileNotFoundError(f"no search {experiment_id!r} under {base} (no {JOURNAL_NAME})")
    if _is_search_dir(base):
        return base
    if not base.is_dir():
        raise FileNotFoundError(f"{base} is not a folder")
    found = [p for p in base.iterdir() if p.is_dir() and _is_search_dir(p)]
    if not found:
        raise FileNotFoundError(f"no search under {base}: no <experiment>/{JOURNAL_NAME}")
    return max(found, key=lambda p: ((p / JOURNAL_NAME).stat().st_mtime, p.name))


@dataclass(frozen=True)
class Search:
    """One search as its journal tells it.

    Attributes:
        root: The search folder.
        experiment_id: Its name (the folder name, NNI's experiment id).
        events: Every journal event, in file order.
        records: indiv_id -> final state, in order of generation.
        order: Ids of reported individuals in the order their results arrived
            (the "trial order" of the curves).
        nni: NNI's trial records joined on ``indiv_id`` (empty unless fetched).
    """

    root: Path
    experiment_id: str
    events: tuple[Mapping[str, Any], ...]
    records: Mapping[int, IndividualRecord]
    order: tuple[int, ...]
    nni: Mapping[int, NniTrial] = field(default_factory=dict)

    def save_dir(self, indiv_id: int) -> Path:
        """The individual's checkpoint folder (from the journal, else the layout)."""
        record = self.records.get(indiv_id)
        if record is not None and record.save_dir:
            path = Path(record.save_dir)
            if path.is_dir() or not (self.root / INDIVIDUALS_DIR / f"{indiv_id:06d}").is_dir():
                return path
        return self.root / INDIVIDUALS_DIR / f"{indiv_id:06d}"

    def reported(self) -> list[IndividualRecord]:
        """Reported individuals, in trial order."""
        return [self.records[i] for i in self.order if i in self.records]

    def best(self) -> IndividualRecord | None:
        """The reported individual with the highest F1 (earliest id among ties)."""
        rows = leaderboard(self)
        return self.records[rows[0].indiv_id] if rows else None


def default_cache_dir(search: Search) -> str | None:
    """``<save_dir_root>/cache`` when it exists (where ``config.yml``'s trials cache the
    preprocessed arrays; the cache is keyed by content, so reading it is safe)."""
    cache = search.root.parent / "cache"
    return str(cache) if cache.is_dir() else None


def load_search(path: str | os.PathLike[str], experiment_id: str | None = None) -> Search:
    """Read a search from disk (see :func:`find_search_dir` for ``path``)."""
    root = find_search_dir(path, experiment_id)
    events = read_events(root / JOURNAL_NAME)
    records = replay(events)
    order = tuple(i for i in report_order(events) if i in records)
    return Search(root=root, experiment_id=root.name, events=tuple(events), records=records, order=order)


# --- leaderboard ----------------------------------------------------------------
def _num(result: Mapping[str, Any], key: str, default: float | None = None) -> float | None:
    value = result.get(key)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return default
    return float(value)


@dataclass(frozen=True)
class LeaderboardRow:
    """One reported individual, as ranked by dev F1.

    Attributes:
        rank: 1 = best.
        indiv_id: The individual.
        parent_id: Its parent, or None for a cold start.
        f1: Dev F1 it reported (the journal's ``result["f1"]``, else ``value``).
        em: Dev EM it reported (None if absent).
        hidden_layers: Hidden layers of its graph.
        layer_types: ``{type: count}`` of its hidden layers.
        inherited_params: Parameters loaded from its parent.
        fresh_params: Parameters initialised fresh.
        inherited_fraction: ``inherited / (inherited + fresh)`` (0 without counts).
        warm_start: Whether it really loaded weights.
        epochs: Epochs trained.
        train_seconds: Training time reported by the trial.
        mutation: How it was derived.
        nni_trial: NNI's trial job id, when NNI records were joined.
    """

    rank: int
    indiv_id: int
    parent_id: int | None
    f1: float
    em: float | None
    hidden_layers: int
    layer_types: Mapping[str, int]
    inherited_params: int
    fresh_params: int
    inherited_fraction: float
    warm_start: bool
    epochs: int | None
    train_seconds: float | None
    mutation: str
    nni_trial: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["layer_types"] = dict(self.layer_types)
        return d


def _f1_of(record: IndividualRecord) -> float:
    f1 = _num(record.result, "f1")
    return float(record.value if f1 is None else f1)  # type: ignore[arg-type]


def _fraction(inherited: int, fresh: int) -> float:
    total = inherited + fresh
    return inherited / total if total > 0 else 0.0


def leaderboard(search: Search) -> list[LeaderboardRow]:
    """Reported individuals, best F1 first (earlier id first among ties)."""
    done = [r for r in search.records.values() if r.status is Status.REPORTED and r.value is not None]
    done.sort(key=lambda r: (-_f1_of(r), r.indiv_id))
    rows = []
    for rank, rec in enumerate(done, start=1):
        res = rec.result
        inherited = int(_num(res, "inherited_params", 0) or 0)
        fresh = int(_num(res, "fresh_params", 0) or 0)
        types: dict[str, int] = {}
        for layer in rec.graph.hidden_layers:
            types[layer.type.value] = types.get(layer.type.value, 0) + 1
        epochs = _num(res, "epochs")
        nni = search.nni.get(rec.indiv_id)
        rows.append(LeaderboardRow(
            rank=rank, indiv_id=rec.indiv_id, parent_id=rec.parent_id, f1=_f1_of(rec),
            em=_num(res, "em"), hidden_layers=len(rec.graph.hidden_layers), layer_types=types,
            inherited_params=inherited, fresh_params=fresh, inherited_fraction=_fraction(inherited, fresh),
            warm_start=bool(res.get("warm_start", False)), epochs=None if epochs is None else int(epochs),
            train_seconds=_num(res, "train_seconds"), mutation=rec.mutation,
            nni_trial=nni.trial_job_id if nni else None,
        ))
    return rows


# --- curve ----------------------------------------------------------------------
@dataclass(frozen=True)
class TrialPoint:
    """One reported trial on the F1-over-trials curve.

    Attributes:
        position: 1-based position in trial order (order results arrived).
        indiv_id: The individual.
        f1: Its dev F1.
        best_so_far: Best F1 among the first ``position`` trials.
        warm_start: Whether it loaded weights from a parent.
        parent_id: Its parent, or None.
    """

    position: int
    indiv_id: int
    f1: float
    best_so_far: float
    warm_start: bool
    parent_id: int | None


def trial_curve(search: Search) -> list[TrialPoint]:
    """Dev F1 of every reported trial in trial order, with the running best."""
    points: list[TrialPoint] = []
    best = -math.inf
    for n, rec in enumerate(search.reported(), start=1):
        f1 = _f1_of(rec)
        best = max(best, f1)
        points.append(TrialPoint(n, rec.indiv_id, f1, best, bool(rec.result.get("warm_start", False)),
                                 rec.parent_id))
    return points


# --- lineage --------------------------------------------------------------------
@dataclass(frozen=True)
class LineageEdge:
    """Parent -> child.

    Attributes:
        parent_id: The parent.
        child_id: The child.
        inherited_fraction: Fraction of the child's parameters loaded from the
            parent (None until the child reported).
        shared_layers: Weight ids the tuner offered to share (None if unknown).
        warm_start: Whether the child really loaded weights.
        mutation: How the child was derived.
    """

    parent_id: int
    child_id: int
    inherited_fraction: float | None
    shared_layers: int | None
    warm_start: bool
    mutation: str


def lineage_edges(search: Search) -> list[LineageEdge]:
    """Every parent -> child edge, in order of the child's generation."""
    edges = []
    for rec in search.records.values():
        if rec.parent_id is None:
            continue
        res = rec.result
        fraction = None
        if rec.status is Status.REPORTED and "inherited_params" in res:
            fraction = _fraction(int(res.get("inherited_params") or 0), int(res.get("fresh_params") or 0))
        edges.append(LineageEdge(rec.parent_id, rec.indiv_id, fraction,
                                 None if rec.shared_ids is None else len(rec.shared_ids),
                                 bool(res.get("warm_start", False)), rec.mutation))
    return edges


def generations(search: Search) -> dict[int, int]:
    """indiv_id -> depth in the lineage tree (0 for cold starts and orphans)."""
    depth: dict[int, int] = {}
    for indiv_id, rec in search.records.items():  # generation order: parents come first
        parent = rec.parent_id
        depth[indiv_id] = depth[parent] + 1 if parent is not None and parent in depth else 0
    return depth


def f1_by_id(search: Search) -> dict[int, float]:
    """Dev F1 of every reported individual."""
    return {r.indiv_id: _f1_of(r) for r in search.reported()}


# --- warm vs cold ---------------------------------------------------------------
@dataclass(frozen=True)
class EpochGroup:
    """Warm- vs cold-started trials that trained the same number of epochs.

    Attributes:
        epochs: Epochs trained.
        warm_ids, cold_ids: The individuals in each group.
        warm_f1, cold_f1: Mean final dev F1 (None for an empty group).
        warm_initial_f1, cold_initial_f1: Mean dev F1 before training.
    """

    epochs: int
    warm_ids: tuple[int, ...]
    cold_ids: tuple[int, ...]
    warm_f1: float | None
    cold_f1: float | None
    warm_initial_f1: float | None
    cold_initial_f1: float | None


@dataclass(frozen=True)
class WarmColdComparison:
    """Warm-started children against cold-started trials.

    Attributes:
        groups: One group per number of epochs trained, ascending.
        pairs: ``(child_id, parent_id, child F1, parent F1)`` for each
            warm-started child whose parent reported.
    """

    groups: tuple[EpochGroup, ...]
    pairs: tuple[tuple[int, int, float, float], ...]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def warm_vs_cold(search: Search) -> WarmColdComparison:
    """Compare warm-started with cold-started trials after the same number of epochs.

    A child whose warm start failed (damaged parent checkpoint) counts as cold:
    what matters is whether weights were really loaded.
    """
    by_epochs: dict[int, tuple[list[IndividualRecord], list[IndividualRecord]]] = {}
    for rec in search.reported():
        epochs = int(_num(rec.result, "epochs", 0) or 0)
        warm, cold = by_epochs.setdefault(epochs, ([], []))
        (warm if rec.result.get("warm_start") else cold).append(rec)
    groups = []
    for epochs in sorted(by_epochs):
        warm, cold = by_epochs[epochs]

        def initial(recs: list[IndividualRecord]) -> float | None:
            return _mean([v for r in recs if (v := _num(r.result, "initial_f1")) is not None])

        groups.append(EpochGroup(
            epochs, tuple(r.indiv_id for r in warm), tuple(r.indiv_id for r in cold),
            _mean([_f1_of(r) for r in warm]), _mean([_f1_of(r) for r in cold]),
            initial(warm), initial(cold)))
    pairs = []
    for rec in search.reported():
        parent = search.records.get(rec.parent_id) if rec.parent_id is not None else None
        if rec.result.get("warm_start") and parent is not None and parent.status is Status.REPORTED:
            pairs.append((rec.indiv_id, parent.indiv_id, _f1_of(rec), _f1_of(parent)))
    return WarmColdComparison(tuple(groups), tuple(pairs))


@dataclass(frozen=True)
class PairedChild:
    """One child trained twice on the same graph, seed and epochs: warm and cold.

    Attributes:
        indiv_id: Its id (the same in both searches).
        parent_id: Its parent.
        epochs: Epochs trained (equal in both).
        warm_f1, cold_f1: Final dev F1 with and without inherited weights.
        warm_initial_f1, cold_initial_f1: Dev F1 before training.
    """

    indiv_id: int
    parent_id: int
    epochs: int
    warm_f1: float
    cold_f1: float
    warm_initial_f1: float | None
    cold_initial_f1: float | None


def paired_children(warm: Search, cold: Search) -> list[PairedChild]:
    """Children of a search paired with the same individuals of a no-sharing replay.

    ``cold`` is typically a :func:`ga_squad.sim.local_search.run_local_search`
    with ``weight_sharing=False`` and ``replay=`` the first search's proposals:
    the same graphs, parents and seeds, trained from scratch. A pair needs the
    same graph and parent, a real warm start in ``warm``, none in ``cold``,
    and the same number of epochs.
    """
    pairs = []
    for rec in warm.reported():
        other = cold.records.get(rec.indiv_id)
        if (rec.parent_id is None or other is None or other.status is not Status.REPORTED
                or other.value is None or other.parent_id != rec.parent_id
                or other.graph.fingerprint() != rec.graph.fingerprint()
                or not rec.result.get("warm_start") or other.result.get("warm_start")):
            continue
        epochs, other_epochs = _num(rec.result, "epochs"), _num(other.result, "epochs")
        if epochs is None or epochs != other_epochs:
            continue
        pairs.append(PairedChild(rec.indiv_id, rec.parent_id, int(epochs), _f1_of(rec), _f1_of(other),
                                 _num(rec.result, "initial_f1"), _num(other.result, "initial_f1")))
    return pairs


def paired_markdown(pairs: Sequence[PairedChild]) -> str:
    """Paired warm/cold children as a Markdown table, with the mean difference."""
    if not pairs:
        return "No child was trained both warm and cold (same graph, parent and epochs)."
    lines = ["| child | parent | epochs | warm F1 | cold F1 | warm - cold | warm F1 before training "
             "| cold F1 before training |", "|---|---|---|---|---|---|---|---|"]
    for p in pairs:
        lines.append(f"| {p.indiv_id} | {p.parent_id} | {p.epochs} | {p.warm_f1:.2f} | {p.cold_f1:.2f} "
                     f"| {p.warm_f1 - p.cold_f1:+.2f} | {_fmt(p.warm_initial_f1)} | {_fmt(p.cold_initial_f1)} |")
    mean = sum(p.warm_f1 - p.cold_f1 for p in pairs) / len(pairs)
    wins = sum(p.warm_f1 > p.cold_f1 for p in pairs)
    lines += ["", f"Mean warm - cold: {mean:+.2f} F1 over {len(pairs)} children; warm better in {wins}."]
    return "\n".join(lines)


# --- NNI records ----------------------------------------------------------------
@dataclass(frozen=True)
class NniTrial:
    """An NNI trial job mapped to its individual through its final metric.

    Attributes:
        trial_job_id: NNI's trial id.
        indiv_id: The individual its final metric names.
        status: NNI's trial status (SUCCEEDED, FAILED, ...).
        start_time, end_time: NNI's times (ms since the epoch), or None.
        metrics: The final metric dict as NNI recorded it.
    """

    trial_job_id: str
    indiv_id: int
    status: str
    start_time: float | None
    end_time: float | None
    metrics: Mapping[str, Any]


def _decode_metric(data: Any) -> Any:
    """NNI stores a final metric as JSON text of JSON text; unwrap to the value."""
    for _ in range(3):
        if not isinstance(data, str):
            break
        try:
            data = json.loads(data)
        except ValueError:
            break
    return data


def parse_nni_trials(trial_jobs: Iterable[Mapping[str, Any]],
                     metric_data: Iterable[Mapping[str, Any]] = ()) -> dict[int, NniTrial]:
    """Join NNI's ``trial-jobs`` and ``metric-data`` records on the final metric's ``indiv_id``.

    Trials without a final metric naming an individual are skipped (they
    cannot be mapped safely: NNI's parameter record may belong to another
    trial).

    Returns:
        indiv_id -> trial (the last trial reporting that individual wins).
    """
    finals: dict[str, Any] = {}
    for record in metric_data:
        if record.get("type") == "FINAL" and record.get("trialJobId"):
            finals[str(record["trialJobId"])] = _decode_metric(record.get("data"))
    out: dict[int, NniTrial] = {}
    for trial in trial_jobs:
        trial_id = str(trial.get("trialJobId") or trial.get("id") or "")
        value = finals.get(trial_id)
        if value is None:
            for metric in trial.get("finalMetricData") or []:
                value = _decode_metric(metric.get("data"))
        indiv_id = result_indiv_id(value)
        if indiv_id is None:
            continue
        out[indiv_id] = NniTrial(
            trial_id, indiv_id, str(trial.get("status", "")),
            trial.get("startTime"), trial.get("endTime"), dict(value))
    return out


def _get_json(url: str, timeout: float) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return json.loads(response.read().decode("utf-8"))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        raise ConnectionError(f"GET {url} failed: {exc}") from exc


def fetch_nni_trials(port: int, experiment_id: str | None = None, host: str = "127.0.0.1",
                     timeout: float = 10.0) -> dict[int, NniTrial]:
    """Pull trial records from a running NNI manager's REST API (``/api/v1/nni``).

    Args:
        port: The NNI manager's port.
        experiment_id: If given, the manager must be running this experiment.
        host: The manager's host.
        timeout: Seconds per request.

    Raises:
        ConnectionError: if NNI does not answer, or runs another experiment.
    """
    base = f"http://{host}:{port}/api/v1/nni"
    if experiment_id is not None:
        running = _get_json(f"{base}/experiment", timeout)
        found = running.get("id") if isinstance(running, Mapping) else None
        if found != experiment_id:
            raise ConnectionError(f"the NNI manager on port {port} runs experiment {found!r}, not {experiment_id!r}")
    return parse_nni_trials(_get_json(f"{base}/trial-jobs", timeout), _get_json(f"{base}/metric-data", timeout))


def with_nni(search: Search, trials: Mapping[int, NniTrial]) -> Search:
    """The search with NNI's records attached (see :attr:`Search.nni`)."""
    unknown = sorted(set(trials) - set(search.records))
    if unknown:
        logger.warning("NNI reports individuals %s that the journal does not know", unknown)
    return dataclasses.replace(search, nni=dict(trials))


# --- writing --------------------------------------------------------------------
def _fmt(value: float | None, spec: str = ".2f") -> str:
    return "-" if value is None else format(value, spec)


def leaderboard_markdown(rows: Sequence[LeaderboardRow], limit: int | None = None) -> str:
    """The leaderboard as a Markdown table."""
    nni = any(r.nni_trial for r in rows)
    head = ["rank", "id", "parent", "F1", "EM", "hidden layers", "inherited", "fresh", "inherited %",
            "epochs", "train s", "mutation"] + (["NNI trial"] if nni else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows[:limit]:
        types = ", ".join(f"{n} {t}" for t, n in sorted(r.layer_types.items()))
        cells = [str(r.rank), str(r.indiv_id), "-" if r.parent_id is None else str(r.parent_id),
                 _fmt(r.f1), _fmt(r.em), f"{r.hidden_layers} ({types})" if types else "0",
                 str(r.inherited_params), str(r.fresh_params), _fmt(100 * r.inherited_fraction, ".0f"),
                 "-" if r.epochs is None else str(r.epochs), _fmt(r.train_seconds, ".1f"),
                 r.mutation.replace("|", "/")] + ([r.nni_trial or "-"] if nni else [])
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overview_markdown(search: Search) -> str:
    """Where the search is, how many individuals in which state, and the best one."""
    statuses: dict[str, int] = {}
    for rec in search.records.values():
        statuses[rec.status.value] = statuses.get(rec.status.value, 0) + 1
    text = (f"Search `{search.experiment_id}` in `{search.root}`: {len(search.records)} individuals ("
            + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())) + ").")
    rows = leaderboard(search)
    if rows:
        best = rows[0]
        text += (f"\n\n**Best:** individual {best.indiv_id}, dev F1 {best.f1:.2f}, EM {_fmt(best.em)}, "
                 f"{best.hidden_layers} hidden layers.")
    return text


def nni_markdown(search: Search) -> str:
    """NNI's trial records next to the journal's results."""
    lines = ["| NNI trial | status | individual | F1 (NNI) | F1 (journal) |", "|---|---|---|---|---|"]
    for indiv_id, trial in sorted(search.nni.items()):
        rec = search.records.get(indiv_id)
        journal = _f1_of(rec) if rec is not None and rec.value is not None else None
        lines.append(f"| {trial.trial_job_id} | {trial.status} | {indiv_id} | {_fmt(_num(trial.metrics, 'f1'))} "
                     f"| {_fmt(journal)} |")
    return "\n".join(lines)


def lineage_markdown(edges: Sequence[LineageEdge]) -> str:
    """Parent -> child edges as a Markdown table."""
    lines = ["| parent | child | inherited % | warm | mutation |", "|---|---|---|---|---|"]
    for e in edges:
        frac = "-" if e.inherited_fraction is None else f"{100 * e.inherited_fraction:.0f}"
        lines.append(f"| {e.parent_id} | {e.child_id} | {frac} | {'yes' if e.warm_start else 'no'} "
                     f"| {e.mutation.replace('|', '/')} |")
    return "\n".join(lines)


def warm_cold_markdown(comparison: WarmColdComparison) -> str:
    """The warm vs cold comparison as Markdown tables (per epochs, then child vs parent)."""
    lines = ["| epochs | warm n | warm F1 | warm F1 before training | cold n | cold F1 | cold F1 before training |",
             "|---|---|---|---|---|---|---|"]
    for g in comparison.groups:
        lines.append(f"| {g.epochs} | {len(g.warm_ids)} | {_fmt(g.warm_f1)} | {_fmt(g.warm_initial_f1)} "
                     f"| {len(g.cold_ids)} | {_fmt(g.cold_f1)} | {_fmt(g.cold_initial_f1)} |")
    if comparison.pairs:
        lines += ["", "| warm child | parent | child F1 | parent F1 |", "|---|---|---|---|"]
        lines += [f"| {c} | {p} | {cf:.2f} | {pf:.2f} |" for c, p, cf, pf in comparison.pairs]
    return "\n".join(lines)


def write_leaderboard_csv(rows: Sequence[LeaderboardRow], path: str | os.PathLike[str]) -> Path:
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        names = [fl.name for fl in dataclasses.fields(LeaderboardRow)]
        writer.writerow(names)
        for r in rows:
            d = r.to_dict()
            d["layer_types"] = json.dumps(d["layer_types"], sort_keys=True)
            writer.writerow(["" if d[n] is None else d[n] for n in names])
    return path


def _summary_markdown(search: Search, rows: Sequence[LeaderboardRow], comparison: WarmColdComparison,
                      edges: Sequence[LineageEdge], reevaluation: Any, reeval_note: str,
                      figures: Mapping[str, str], pairs: Sequence[PairedChild] | None = None,
                      cold: Search | None = None) -> str:
    out = [f"# Search report: {search.experiment_id}", "", overview_markdown(search), ""]
    out += ["## Leaderboard", "", leaderboard_markdown(rows) if rows else "No trial has reported yet.", ""]
    titles = {"curve": "Dev F1 over trials", "lineage": "Lineage", "architecture": "Best architecture",
              "warm_cold": "Warm vs cold starts"}
    for key, name in figures.items():
        out += [f"## {titles.get(key, key)}", "", f"![{titles.get(key, key)}]({name})", ""]
    if edges:
        out += ["## Lineage edges", "", lineage_markdown(edges), ""]
    if search.nni:
        out += ["## NNI trials (joined on the final metric's indiv_id)", "", nni_markdown(search), ""]
    out += ["## Warm vs cold starts (same number of epochs)", "", warm_cold_markdown(comparison)]
    if pairs is not None and cold is not None:
        out += ["", f"### The same children trained cold (no-sharing replay `{cold.experiment_id}`)", "",
                paired_markdown(pairs)]
    out += ["", "## Best checkpoint re-evaluated", ""]
    if reevaluation is None:
        out.append(reeval_note or "Not re-evaluated.")
    else:
        out.append(reevaluation.to_markdown())
    return "\n".join(out) + "\n"


def write_report(
    search: Search,
    out_dir: str | os.PathLike[str],
    *,
    reevaluate: bool = True,
    data_override: Any = None,
    cache_dir: str | None = None,
    samples: int = 5,
    cold: Search | None = None,
) -> dict[str, Path]:
    """Write the figures (PNG), ``summary.md``, ``leaderboard.csv`` and ``report.json``.

    Args:
        search: The search.
        out_dir: Output folder (created).
        reevaluate: Reload the best checkpoint and score it on the dev set
            (imports TensorFlow).
        data_override: A :class:`ga_squad.reader.dataset.DataConfig` for the
            re-evaluation when the checkpoint does not record its own.
        cache_dir: Dataset cache folder for the re-evaluation.
        samples: Predicted vs gold answers to show.
        cold: A no-sharing replay of this search: adds the paired
            warm/cold comparison (:func:`paired_children`).

    Returns:
        Name -> written path (``summary``, ``csv``, ``json`` and one per figure).
    """
    from ga_squad.analysis import plots

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows = leaderboard(search)
    edges = lineage_edges(search)
    comparison = warm_vs_cold(search)
    written: dict[str, Path] = {}
    figures: dict[str, str] = {}

    def save(key: str, fig: Any) -> None:
        path = out / FIGURES[key]
        plots.save_figure(fig, path)
        written[key] = path
        figures[key] = path.name

    save("curve", plots.plot_f1_over_trials(trial_curve(search)))
    save("lineage", plots.plot_lineage(search))
    best = search.best()
    if best is not None:
        save("architecture", plots.plot_architecture(best.graph, title=f"individual {best.indiv_id}"))
    save("warm_cold", plots.plot_warm_vs_cold(comparison, f1_by_id(search)))
    pairs = paired_children(search, cold) if cold is not None else None
    if pairs is not None:
        save("paired", plots.plot_paired_children(pairs))

    reevaluation = None
    note = ""
    failed = False
    if best is None:
        note = "No reported individual to re-evaluate."
    elif not reevaluate:
        note = "Re-evaluation skipped (--no-reevaluate)."
    else:
        from ga_squad.analysis import reevaluate as reeval
        from ga_squad.reader.checkpoint import CheckpointError

        try:
            reevaluation = reeval.reevaluate(search.save_dir(best.indiv_id), data_config=data_override,
                                             cache_dir=cache_dir, samples=samples)
        except reeval.DataConfigMissing as exc:
            note = f"Not re-evaluated: {exc}"
            logger.warning("%s", note)
        except (CheckpointError, OSError) as exc:
            failed = True
            note = f"Re-evaluation failed: {type(exc).__name__}: {exc}"
            logger.error("%s", note)
    written["summary"] = out / SUMMARY_NAME
    written["summary"].write_text(
        _summary_markdown(search, rows, comparison, edges, reevaluation, note, figures, pairs, cold),
        encoding="utf-8")
    written["csv"] = write_leaderboard_csv(rows, out / LEADERBOARD_CSV)
    payload = {
        "experiment_id": search.experiment_id,
        "root": str(search.root),
        "leaderboard": [r.to_dict() for r in rows],
        "curve": [dataclasses.asdict(p) for p in trial_curve(search)],
        "lineage": [dataclasses.asdict(e) for e in edges],
        "warm_vs_cold": comparison.to_dict(),
        "paired_children": None if pairs is None else [dataclasses.asdict(p) for p in pairs],
        "reevaluation": None if reevaluation is None else reevaluation.to_dict(),
        "reevaluation_note": note,
        "reevaluation_failed": failed or (reevaluation is not None and not reevaluation.matches()),
        "figures": figures,
    }
    written["json"] = out / REPORT_JSON
    written["json"].write_text(json.dumps(payload, indent=1, sort_keys=True), encoding="utf-8")
    return written


# --- command line ---------------------------------------------------------------
def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m ga_squad report",
        description="Leaderboard, figures (PNG) and a Markdown summary of a finished or running search.")
    p.add_argument("path", help="storage root holding experiment folders, or one experiment folder")
    p.add_argument("--experiment", help="experiment id under the root (default: the latest journal)")
    p.add_argument("--out", help="output folder (default: <search folder>/report)")
    p.add_argument("--cold-experiment",
                   help="a no-sharing replay of this search under the same root: compare each child warm vs cold")
    p.add_argument("--nni-experiment", help="also pull trial records from this running NNI experiment")
    p.add_argument("--port", type=int, default=8080, help="NNI manager port (with --nni-experiment)")
    p.add_argument("--no-reevaluate", action="store_true", help="do not reload and re-score the best checkpoint")
    d = p.add_argument_group("data for the re-evaluation (when the checkpoint does not record it)")
    d.add_argument("--train", help="SQuAD training file the search used (its vocabulary)")
    d.add_argument("--dev", help="SQuAD dev file the search used")
    d.add_argument("--glove", help="GloVe file the search used")
    d.add_argument("--train-limit", type=int)
    d.add_argument("--dev-limit", type=int)
    d.add_argument("--max-passage-len", type=int)
    d.add_argument("--data-config", help="JSON file of a DataConfig (overrides the options above)")
    d.add_argument("--cache-dir", help="dataset cache folder (default: <save_dir_root>/cache if it exists)")
    p.add_argument("--samples", type=int, default=5, help="predicted vs gold answers to show")
    add_log_level(p)
    return p


def _data_override(args: argparse.Namespace) -> Any:
    from ga_squad.reader.dataset import DataConfig

    if args.data_config:
        try:
            return DataConfig.from_dict(json.loads(Path(args.data_config).read_text(encoding="utf-8")))
        except (ValueError, TypeError) as exc:
            raise UserError(f"--data-config {args.data_config} is not a DataConfig JSON object: {exc}") from None
    if not args.train and not args.dev:
        return None
    if not (args.train and args.dev):
        raise SystemExit("--train and --dev go together")
    changes = {k: v for k, v in {"glove_path": args.glove, "train_limit": args.train_limit,
                                 "dev_limit": args.dev_limit, "max_passage_len": args.max_passage_len}.items()
               if v is not None}
    return DataConfig(train_path=args.train, dev_path=args.dev, **changes)


def cli(argv: Sequence[str] | None = None) -> int:
    """``python -m ga_squad report SAVE_DIR_ROOT [--experiment ID] [--nni-experiment ID --port P]``.

    Returns:
        0 when the report is written; 1 when there is no such search or NNI
        does not answer; 3 when the report is written but the best checkpoint
        could not be reloaded or does not score what its trial reported.
    """
    raw = list(sys.argv[1:] if argv is None else argv)
    return run_command(lambda: _cli(raw), log_level_of(raw))


def _cli(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    setup_logging(args.log_level)
    experiment = args.experiment or args.nni_experiment
    try:
        search = load_search(args.path, experiment)
    except FileNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    cold = None
    if args.cold_experiment:
        try:
            cold = load_search(search.root.parent, args.cold_experiment)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    if args.nni_experiment:
        try:
            search = with_nni(search, fetch_nni_trials(args.port, args.nni_experiment))
        except ConnectionError as exc:
            print(f"error: NNI experiment {args.nni_experiment}: {exc}", file=sys.stderr)
            return 1
    if not args.no_reevaluate:
        import_tensorflow(is_debug(args.log_level))
        from ga_squad.reader.training import configure_tensorflow

        configure_tensorflow()
    out = Path(args.out) if args.out else search.root / "report"
    written = write_report(search, out, reevaluate=not args.no_reevaluate, data_override=_data_override(args),
                           cache_dir=args.cache_dir or default_cache_dir(search), samples=args.samples,
                           cold=cold)
    rows = leaderboard(search)
    print(leaderboard_markdown(rows, limit=10) if rows else "no trial has reported yet")
    for name, path in written.items():
        print(f"{name}: {path}")
    payload = json.loads(written["json"].read_text(encoding="utf-8"))
    if payload["reevaluation_failed"]:
        r = payload["reevaluation"]
        detail = payload["reevaluation_note"] or (
            f"EM/F1 now {r['em']:.4f}/{r['f1']:.4f}, reported {r['reported_em']}/{r['reported_f1']}")
        print(f"error: the best checkpoint does not reproduce its trial: {detail}", file=sys.stderr)
        return 3
    return 0

"""The lineage journal: one JSON line per search event, append-only.

The journal is the search's memory. The tuner writes it; the report notebook
reads it to draw the lineage tree and the learning curve; a resumed search
rebuilds its population from it (Ray Tune's PBT log is the model: replayable,
inspectable with ``jq``). It lives at ``SearchLayout.journal_path``, i.e.
``<save_dir_root>/<experiment_id>/lineage.jsonl``.

Event schema
------------
Every line is a JSON object with at least ``event`` (the kind, below),
``time`` (unix seconds, float) and ``session`` (0 for the first run of the
experiment, +1 for each resume). Per kind:

``search``
    The journal's first event, written once when the search starts: what it
    ranks by and how it is configured. ``fitness`` (``{"key": "val_loss",
    "mode": "minimize"}``: the result key the search ranks by and its
    direction, :class:`~ga_squad.search.fitness.Fitness`), ``optimize_mode``
    (NNI's order of the ``default`` metric), ``config`` (the evolution
    settings: ``population_size``, ``tournament_size``, ``min_layers``,
    ``max_layers``, ``initial_mutations``, ``seed``, ``aging``, ``fitness``,
    ``siblings``, ``control``, ``optimize_mode``) and ``retention``
    (``keep``). Readers of a search rank with ``fitness``
    (:mod:`ga_squad.store.best`); a journal without this event first is
    refused.
``generated``
    An individual was created. ``indiv_id``, ``parent_id`` (null for a cold
    start), ``graph`` (``Graph.to_dict()``), ``shared_ids`` (sorted list, or
    null), ``mutation`` (text), ``origin`` (``initial``: one of the first
    ``population_size`` cold starts; ``regenerated``: a cold start replacing
    a failed one; ``child``: mutated from a reported parent; ``imported``:
    learnt from NNI's import data on resume), ``seed``, ``save_dir``,
    ``restore_dir``.
``dispatched``
    Its parameters were handed to NNI. ``indiv_id``, ``parent_id``,
    ``parameter_id`` (NNI's id, unique only within a session).
``deferred``
    NNI asked for a trial that could not be served yet (no parent has
    reported); it will be served later through ``st_callback``.
    ``parameter_id``.
``reported``
    A final result arrived. ``indiv_id``, ``parent_id``, ``parameter_id``,
    ``trial_job_id`` (NNI's, or null), ``value`` (the scalar it is ranked
    by), ``result`` (the full metrics dict the trial reported: ``default``,
    ``f1``, ``em``, ... whatever came), ``late`` (true if it arrived after the
    trial was declared failed, e.g. through NNI's import data on resume).
    Optional: ``recovered: "manifest"`` (the result was read from the
    individual's published checkpoint because it never reached the tuner),
    ``corrects_end_of`` (the trial job whose end had been attributed to this
    individual by its form and wrongly failed it).
``ended``
    A trial ended (every end, also after a result). ``parameter_id`` (its
    form's), ``trial_job_id`` (or null), ``success``, ``indiv_id`` (the
    individual it is attributed to, or null), ``attributed_by`` (``result``:
    the individual the trial's own result named; ``claim``: the individual
    the trial claimed when it took its parameters; ``none``: another trial
    took the form's individual; ``form``: its form's individual, nothing
    better known; ``unknown``: an unknown parameter id).
``pruned``
    Retention deleted the individual's weights (it can no longer be a
    parent); its manifest, metrics and predictions stay. ``indiv_id``,
    ``bytes`` (freed), ``reason``.
``failed``
    The trial failed, was killed, ended without a final result, reported an
    unusable result, or was lost when the experiment stopped. ``indiv_id``,
    ``parent_id``, ``parameter_id``, ``reason`` (``failed``,
    ``no_final_result``, ``invalid_result``, ``lost_on_resume``), ``detail``.
``retired``
    The individual left the population (aging or worst removal). ``indiv_id``.
``resumed``
    The tuner restarted on an existing journal. ``next_id``, ``population``
    (ids, oldest first), ``lost`` (ids dispatched but never reported).

Reading the final state: an individual still ``dispatched`` at the end of an
experiment never reported. Either it was running when the experiment stopped
(a resume adopts its result from its published checkpoint if there is one, else
marks it ``failed``/``lost_on_resume`` and accepts its result if NNI re-runs it), or NNI never ran it: NNI's manager asks for a replacement after
every finished trial without capping requests at ``maxTrialNumber``, so the
last few parameter sets of a search may never be started.

Durability: each event is written and flushed as one line; ``fsync`` runs
per event, or once per :meth:`Journal.batch` when the engine writes several
events in one step, and always before the parameters leave the tuner. A
crash can therefore at worst truncate the last line, which
:func:`read_events` skips with a warning.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TextIO

from ga_squad.search.evolution import Individual, Status
from ga_squad.search.graph import Graph

_logger = logging.getLogger(__name__)

__all__ = [
    "EVENT_KINDS",
    "HEADER_EVENT",
    "IndividualRecord",
    "Journal",
    "read_events",
    "header",
    "replay",
    "report_order",
]

HEADER_EVENT = "search"
EVENT_KINDS = frozenset({
    HEADER_EVENT, "generated", "dispatched", "deferred", "reported", "failed", "retired", "resumed", "ended",
    "pruned",
})


class Journal:
    """Appends events to a JSON-lines file.

    Not thread-safe by itself: the search engine serialises writes under its
    own lock, which also makes the order of lines the order of state changes.
    Each line is also written under an exclusive ``flock`` of the file, so a
    second writer (which the experiment lock should already have refused)
    can never interleave with a line.

    Args:
        path: The journal file (created with its folder if missing; appended to
            if it exists).
        fsync: Force each event (or batch) to disk. Off only for benchmarks
            and simulations.
        clock: Source of the ``time`` field (injectable for simulations).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self.clock = clock
        self._file: TextIO | None = self.path.open("a", encoding="utf-8")
        self._batch_depth = 0
        self._dirty = False

    def append(self, event: str, **fields: Any) -> dict[str, Any]:
        """Write one event line and flush it; returns the written record.

        Raises:
            ValueError: for an unknown event kind.
            RuntimeError: if the journal is closed.
        """
        if event not in EVENT_KINDS:
            raise ValueError(f"unknown journal event {event!r}; expected one of {sorted(EVENT_KINDS)}")
        if self._file is None:
            raise RuntimeError(f"journal {self.path} is closed")
        record = {"event": event, "time": self.clock(), **fields}
        line = json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"
        fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        try:
            self._file.write(line)
            self._file.flush()
        finally:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._dirty = True
        if self._batch_depth == 0:
            self.sync()
        return record

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Group appends: each is flushed at once, one fsync at the end."""
        self._batch_depth += 1
        try:
            yield
        finally:
            self._batch_depth -= 1
            if self._batch_depth == 0:
                self.sync()

    def sync(self) -> None:
        """Force written events to disk (no-op if nothing new or fsync is off)."""
        if self._file is not None and self._dirty and self.fsync:
            os.fsync(self._file.fileno())
        self._dirty = False

    def read(self) -> list[dict[str, Any]]:
        """Every event in the file so far (see :func:`read_events`)."""
        if self._file is not None:
            self._file.flush()
        return read_events(self.path)

    def close(self) -> None:
        if self._file is not None:
            self.sync()
            self._file.close()
            self._file = None

    @property
    def closed(self) -> bool:
        return self._file is None

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_events(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """Read a journal, tolerating damage.

    A line that is not a JSON object (typically the last line, truncated by a
    crash mid-write) is skipped with a warning; a missing file reads as empty.

    Returns:
        The events, in file order.
    """
    path = Path(path)
    if not path.exists():
        return []
    events: list[dict[str, Any]] = []
    with path.open("r", encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                event = json.loads(line)
            except json.JSONDecodeError:
                _logger.warning("%s:%d: skipping unreadable journal line (truncated by a crash?)", path, number)
                continue
            if not isinstance(event, dict) or "event" not in event:
                _logger.warning("%s:%d: skipping a line that is not a journal event", path, number)
                continue
            events.append(event)
    return events


def header(events: Iterable[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The journal's ``search`` event (its first), or None when the first event is another one."""
    for event in events:
        return event if event.get("event") == HEADER_EVENT else None
    return None


@dataclass(frozen=True)
class IndividualRecord:
    """The final state of one individual, as the journal tells it.

    This is what the report notebook plots and what a resumed search restores.

    Attributes:
        indiv_id: The individual's id.
        parent_id: Its parent's id, or None for a cold start.
        graph: Its architecture.
        shared_ids: Weight ids it could inherit from its parent, or None.
        mutation: How it was derived.
        origin: ``initial``, ``regenerated``, ``child`` or ``imported``.
        status: Last known status (a failure after a report keeps REPORTED:
            the result and checkpoint exist).
        value: The scalar result, once reported.
        result: The full metrics dict reported by the trial ({} until then).
        parameter_id: NNI's parameter id of its (last) dispatch.
        seed: The trial's seed.
        save_dir: Its checkpoint directory.
        restore_dir: Its parent's checkpoint directory, or None.
        session: The session (0 = first run, then one per resume) that generated it.
        generated_at, dispatched_at, reported_at, failed_at, retired_at, pruned_at:
            Unix times of those events, or None (``pruned_at``: its weights
            were deleted by retention).
        failure: Reason of the last failure (see the ``failed`` event), or None.
    """

    indiv_id: int
    parent_id: int | None
    graph: Graph
    shared_ids: frozenset[str] | None
    mutation: str = ""
    origin: str = ""
    status: Status = Status.GENERATED
    value: float | None = None
    result: Mapping[str, Any] = field(default_factory=dict)
    parameter_id: int | None = None
    seed: int = 0
    save_dir: str | None = None
    restore_dir: str | None = None
    session: int = 0
    generated_at: float | None = None
    dispatched_at: float | None = None
    reported_at: float | None = None
    failed_at: float | None = None
    retired_at: float | None = None
    pruned_at: float | None = None
    failure: str | None = None

    def to_individual(self) -> Individual:
        """The record as the evolution's :class:`~ga_squad.search.evolution.Individual`."""
        return Individual(
            indiv_id=self.indiv_id,
            parent_id=self.parent_id,
            graph=self.graph,
            shared_ids=self.shared_ids,
            mutation=self.mutation,
            status=self.status,
            result=self.value,
            metrics=dict(self.result),
        )


def replay(events: Iterable[Mapping[str, Any]]) -> dict[int, IndividualRecord]:
    """Fold journal events into each individual's final state.

    Rules: ``generated`` creates the record; ``dispatched`` sets DISPATCHED
    (unless already final); ``reported`` sets REPORTED with its result and
    overrides an earlier failure (a late result is still a result);
    ``failed`` sets FAILED unless the individual already reported;
    ``retired`` stamps ``retired_at``, ``pruned`` ``pruned_at``. Events about
    an id never generated are skipped with a warning; ``search``, ``deferred``,
    ``resumed`` and ``ended`` carry no individual state (an end's outcome is
    its own ``failed``/``reported`` event).

    Returns:
        indiv_id -> record, in order of generation.
    """
    records: dict[int, IndividualRecord] = {}
    for event in events:
        kind = event.get("event")
        if kind in (HEADER_EVENT, "deferred", "resumed", "ended"):
            continue
        indiv_id = event.get("indiv_id")
        if not isinstance(indiv_id, int):
            _logger.warning("journal event %r without an indiv_id skipped", kind)
            continue
        when = event.get("time")
        if kind == "generated":
            shared = event.get("shared_ids")
            records[indiv_id] = IndividualRecord(
                indiv_id=indiv_id,
                parent_id=event.get("parent_id"),
                graph=Graph.from_dict(event["graph"]),
                shared_ids=frozenset(shared) if shared is not None else None,
                mutation=event.get("mutation", ""),
                origin=event.get("origin", ""),
                seed=event.get("seed", 0),
                save_dir=event.get("save_dir"),
                restore_dir=event.get("restore_dir"),
                session=event.get("session", 0),
                generated_at=when,
            )
            continue
        record = records.get(indiv_id)
        if record is None:
            _logger.warning("journal event %r about unknown individual %d skipped", kind, indiv_id)
            continue
        if kind == "dispatched":
            status = record.status if record.status in (Status.REPORTED, Status.FAILED) else Status.DISPATCHED
            records[indiv_id] = replace(
                record, status=status, parameter_id=event.get("parameter_id"), dispatched_at=when
            )
        elif kind == "reported":
            records[indiv_id] = replace(
                record,
                status=Status.REPORTED,
                value=float(event["value"]),
                result=dict(event.get("result") or {"default": event["value"]}),
                reported_at=when,
            )
        elif kind == "failed":
            status = Status.REPORTED if record.status is Status.REPORTED else Status.FAILED
            records[indiv_id] = replace(record, status=status, failed_at=when, failure=event.get("reason"))
        elif kind == "retired":
            records[indiv_id] = replace(record, retired_at=when)
        elif kind == "pruned":
            records[indiv_id] = replace(record, pruned_at=when)
        else:
            _logger.warning("unknown journal event %r skipped", kind)
    return records


def report_order(events: Iterable[Mapping[str, Any]]) -> list[int]:
    """Ids of reported individuals in the order their results arrived (first report counts).

    The population of regularized evolution is ordered by age, i.e. by the
    time a member joined it: this is that order.
    """
    seen: dict[int, None] = {}
    for event in events:
        if event.get("event") == "reported" and isinstance(event.get("indiv_id"), int):
            seen.setdefault(event["indiv_id"], None)
    return list(seen)

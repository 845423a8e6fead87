"""Compute a search's equal-compute baseline with the search's own trial command, showing progress.

The baseline must see exactly the data, model size and optimiser settings the
trials saw, and those live in ``trialCommand`` (``trial/trial.py --size tiny
--epochs 2 --glove ...``). Rather than re-parse that command here, the
baseline *is* that command with ``--equal-compute-baseline TRIALS``, the
presets to train and the search's fitness appended: the trial script's own
parser builds the configuration and trains every preset alone for the
search's budget, or reads it from the cache (:mod:`ga_squad.reader.baseline`),
printing one JSON line per epoch and one per preset.

:func:`run_baseline` reads those lines as they come and shows them where the
user waits: a tqdm bar (epochs done of all presets', the best validation F1
so far, an estimate of the time left) and one line per preset, which says
when it was read from the cache instead of trained. Each process keeps the
trials' own ``--threads``: TensorFlow's results shift slightly with the
thread count (on the sample, the base reader's validation F1 at epoch 5 was
8.55 at 2 threads and 8.65 at 1), so B is measured as the trials were. When
the machine has cores for more than one such process, the presets train in
parallel (``min(presets, cores // threads)`` processes); on 2 cores with
``config.yml``'s ``--threads 2`` they train one after the other. The records
are written together into the search folder's ``baseline.json``.

Only for the local platform: on remote machines the command's paths belong to
another filesystem.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, TextIO

from tqdm import tqdm

from ga_squad.launch.config import LaunchConfig
from ga_squad.store.baselines import BASELINE_FILE, PresetBaseline, baseline_presets, write_baselines
from ga_squad.search.space import SearchSpace

__all__ = ["BaselineUnavailable", "baseline_command", "baseline_preset_names", "run_baseline", "trial_threads"]

_logger = logging.getLogger(__name__)


class BaselineUnavailable(RuntimeError):
    """The baseline cannot be computed for this config (the reason is the message)."""


def baseline_preset_names(launch: LaunchConfig) -> tuple[str, ...]:
    """The presets B is chosen from: the search space's, then drqa, bidaf and base."""
    space = (launch.get("tuner", "classArgs") or {}).get("search_space") or {}
    return baseline_presets(SearchSpace.from_dict(space).presets)


def baseline_command(launch: LaunchConfig, presets: Sequence[str]) -> list[str]:
    """``trialCommand`` + the baseline options for ``presets`` (raises :class:`BaselineUnavailable` when impossible).

    The fitness is the search's (``classArgs.fitness``): each preset keeps
    its best epoch by what the search ranks by, as the search's trials do.
    """
    if launch.platforms != {"local"}:
        raise BaselineUnavailable("the trials run on another platform; its data paths are not this machine's")
    command = launch.get("trialCommand")
    trials = launch.max_trial_number
    if not isinstance(command, str) or "trial.py" not in command:
        raise BaselineUnavailable("trialCommand does not run trial/trial.py")
    if not trials:
        raise BaselineUnavailable("the config sets no maxTrialNumber, so the search's budget is unknown")
    fitness = str((launch.get("tuner", "classArgs") or {}).get("fitness") or "default")
    # Appended options win over the command's own (argparse keeps the last).
    return shlex.split(command) + ["--standalone", "--equal-compute-baseline", str(trials),
                                   "--baseline-presets", ",".join(presets), "--fitness", fitness]


def trial_threads(argv: Sequence[str]) -> int:
    """The TensorFlow threads a trial of this command uses (its last ``--threads``; trial.py's default 1)."""
    values = [argv[i + 1] for i, arg in enumerate(argv[:-1]) if arg == "--threads"]
    values += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--threads=")]
    try:
        return max(1, int(values[-1])) if values else 1
    except ValueError:
        return 1  # the trial's own parser will say what is wrong with it


def run_baseline(launch: LaunchConfig, search_root: Path, timeout_s: float | None = None, *,
                 stream: TextIO | None = None, bar: bool | None = None,
                 processes: int | None = None) -> tuple[PresetBaseline, ...]:
    """Train (or read from the cache) every preset of the baseline; write and return their records.

    Args:
        launch: The search's config (its trial command, budget, fitness, presets).
        search_root: The search folder; ``baseline.json`` is written there.
        timeout_s: Give up (killing the processes) after this many seconds.
        stream: Where progress goes (default ``sys.stderr``).
        bar: Draw the tqdm bar (None: only when ``stream`` is a terminal;
            without it, one line per epoch).
        processes: Presets trained at once (default: as many as the cores
            hold at the trials' thread count, at most one per preset).

    Returns:
        One record per preset, in :func:`baseline_preset_names` order.

    Raises:
        BaselineUnavailable: if the config allows no baseline, or a process failed (its last lines quoted).
        subprocess.TimeoutExpired: after ``timeout_s``.
    """
    presets = baseline_preset_names(launch)
    threads = trial_threads(baseline_command(launch, presets))
    slots = max(1, min(len(presets), processes or (os.cpu_count() or 1) // threads))
    groups = [presets[i::slots] for i in range(slots)]
    commands = [baseline_command(launch, group) for group in groups]
    cwd = launch.get("trialCodeDirectory") or "."
    env = {**os.environ, **launch.env} if launch.env else None
    for argv in commands:
        _logger.info("equal-compute baseline: %s (in %s)", shlex.join(argv), cwd)
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    lines: queue.Queue[tuple[int, str | None]] = queue.Queue()
    running: dict[int, tuple[subprocess.Popen[str], IO[str]]] = {}
    records: dict[str, PresetBaseline] = {}
    with _Progress(presets, stream, bar) as progress:
        try:
            for i, argv in enumerate(commands):
                running[i] = _start(argv, cwd, env, i, lines)
                progress.started(groups[i][0])
            while running:
                wait = 1.0 if deadline is None else min(1.0, deadline - time.monotonic())
                if wait <= 0:
                    raise subprocess.TimeoutExpired(commands[0], timeout_s or 0)
                try:
                    i, line = lines.get(timeout=wait)
                except queue.Empty:
                    continue
                if line is not None:
                    event = _event(line)
                    if event is not None:
                        record = progress.show(event)
                        if record is not None:
                            records[record.preset] = record
                            following = groups[i][groups[i].index(record.preset) + 1:]
                            if following:
                                progress.started(following[0])
                    continue
                proc, err = running.pop(i)
                code = proc.wait()
                missing = [name for name in groups[i] if name not in records]
                if code != 0 or missing:
                    raise BaselineUnavailable(f"the baseline command for {', '.join(missing or groups[i])} failed "
                                              f"(exit {code}): {_tail(err)}")
                err.close()
        finally:
            for proc, err in running.values():  # an error, a timeout or Ctrl-C: stop the others
                proc.kill()
                proc.wait()
                err.close()
    ordered = tuple(records[name] for name in presets)
    write_baselines(Path(search_root) / BASELINE_FILE, ordered)
    return ordered


def _start(argv: list[str], cwd: str, env: Mapping[str, str] | None, i: int,
           lines: queue.Queue[tuple[int, str | None]]) -> tuple[subprocess.Popen[str], IO[str]]:
    """Start one baseline process; a thread forwards its stdout lines (then None) to ``lines``."""
    err = tempfile.TemporaryFile(mode="w+", encoding="utf-8", prefix="ga-baseline-")  # no pipe to fill up
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=err, text=True, bufsize=1)

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            lines.put((i, line))
        lines.put((i, None))

    threading.Thread(target=pump, name=f"baseline-{i}", daemon=True).start()
    return proc, err


def _event(line: str) -> Mapping[str, Any] | None:
    """A progress event of the trial script, or None for any other output."""
    try:
        event = json.loads(line)
    except ValueError:
        _logger.debug("baseline output: %s", line.rstrip())
        return None
    return event if isinstance(event, dict) and event.get("event") in ("epoch", "done") else None


def _tail(err: IO[str], lines: int = 5) -> str:
    err.seek(0)
    text = "\n".join(err.read().strip().splitlines()[-lines:])
    err.close()
    return text


class _Progress:
    """The bar and the per-preset lines of one baseline run (epochs done, best validation F1, estimate)."""

    def __init__(self, presets: Sequence[str], stream: TextIO | None, bar: bool | None) -> None:
        self._n = len(presets)
        self._done = 0
        self._cached = 0
        self._budget: int | None = None
        self._training: list[str] = []
        self._best: tuple[float, str] | None = None
        self._stream = stream if stream is not None else sys.stderr  # tqdm.write's default is stdout
        self._bar = tqdm(desc="equal-compute baseline", unit="epoch", file=self._stream, dynamic_ncols=True,
                         disable=None if bar is None else not bar)

    def __enter__(self) -> _Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()

    def started(self, preset: str) -> None:
        self._training.append(preset)
        self._postfix()

    def show(self, event: Mapping[str, Any]) -> PresetBaseline | None:
        """Show one event; the record of a ``done`` event."""
        if self._budget is None:
            self._budget = int(event["budget"])
            self._bar.total = (self._n - self._cached) * self._budget
        if event["event"] == "epoch":
            self._epoch(event)
            return None
        record = PresetBaseline.from_dict(event["record"])
        self._done += 1
        if record.preset in self._training:
            self._training.remove(record.preset)
        self._consider(record.kept_val_f1, record.preset)
        if event.get("cached"):
            self._cached += 1
            self._bar.total = max(self._bar.n, (self._bar.total or 0) - record.budget)  # the estimate: trained ones
            self._write(f"equal-compute baseline: {record.preset} read from the cache ({event.get('path')}), not "
                        f"trained again: validation F1 {record.kept_val_f1:.2f}, dev F1 {_f1(record.dev_f1)} "
                        f"(trained in {record.seconds:.0f} s on {record.created})")
        else:
            self._write(f"equal-compute baseline: {record.preset} trained for {record.budget} epochs in "
                        f"{record.seconds:.0f} s: validation F1 {record.kept_val_f1:.2f}, dev F1 "
                        f"{_f1(record.dev_f1)} (epoch {record.kept_epoch} kept by {record.fitness.describe()})")
        self._postfix()
        return record

    def _epoch(self, event: Mapping[str, Any]) -> None:
        self._consider(float(event["val_f1"]), str(event["preset"]))
        self._bar.update(1)
        self._postfix()
        if self._bar.disable:  # no bar (not a terminal): a line per epoch instead
            self._write(f"equal-compute baseline: {event['preset']} epoch {event['epoch']}/{event['budget']}: "
                        f"validation F1 {float(event['val_f1']):.2f}, loss {float(event['val_loss']):.4f} "
                        f"({float(event['seconds']):.0f} s)")

    def _consider(self, f1: float, preset: str) -> None:
        if self._best is None or f1 > self._best[0]:
            self._best = (f1, preset)

    def _postfix(self) -> None:
        parts = [f"{self._done}/{self._n} presets done"]
        if self._training:
            parts.append("training " + ", ".join(self._training))
        if self._best is not None:
            parts.append(f"best val F1 {self._best[0]:.2f} ({self._best[1]})")
        self._bar.set_postfix_str("; ".join(parts))

    def _write(self, text: str) -> None:
        self._bar.write(text, file=self._stream)
        self._stream.flush()  # a log file or a pipe shows each line as it comes


def _f1(value: float | None) -> str:
    return "not scored" if value is None else f"{value:.2f}"

"""The main job: run a search through NNI, show progress, print the leaderboard.

``python -m ga_squad run`` (what ``make run`` calls) launches ``config.yml``
(the bundled SQuAD sample, offline) with ``nnictl``, polls it until it ends,
always stops it, and prints the top architectures with the paths of the
lineage journal and the best checkpoint, then the equal-compute baseline
(every preset trained alone for the search's trial-epochs, B the best by the
search's fitness on validation, cached per data and config, with a progress
bar while it trains; :mod:`ga_squad.launch.baseline`) and whether the
search's best beat B (``--no-baseline`` skips it); for the shipped ``config.yml``, also the
search's measured gap to B over report seeds (:mod:`ga_squad.analysis.track_record`), since one
run is a single draw. ``--download`` first fetches the
official SQuAD v1.1 files and GloVe (see :mod:`ga_squad.launch.datasets`) and, unless
``--config`` says otherwise, runs ``config_full.yml``.

What is submitted is the config file itself, read by NNI's own config classes;
only paths and the trial's interpreter are overridden, each override printed
(see :mod:`ga_squad.launch.config`). ``--print-config`` shows the exact YAML
without starting anything.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from ga_squad.analysis.equal_compute import baseline_comparison
from ga_squad.analysis.leaderboard import LeaderboardRow, leaderboard
from ga_squad.analysis.markdown import leaderboard_markdown
from ga_squad.analysis.search_dir import Search, load_search
from ga_squad.analysis.track_record import load_track_record, track_record_text
from ga_squad.launch.config import (
    ConfigError,
    LaunchConfig,
    check_port_free,
    load_launch_config,
)
from ga_squad.launch.baseline import BaselineUnavailable, baseline_preset_names, run_baseline
from ga_squad.launch.datasets import fetch_all
from ga_squad.launch.download import DownloadError
from ga_squad.launch.tuner_start import check_tuner_lock, resume_retrying
from ga_squad.launch.experiment import (
    Experiment,
    ExperimentError,
    ExperimentTimeout,
    Progress,
)
from ga_squad.store.paths import SearchLayout

_logger = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class RunConfig:
    """What ``python -m ga_squad run`` was asked to do.

    Attributes:
        timeout_s: Seconds to wait for the experiment (None: the config's
            ``maxExperimentDuration``, or no limit without one).
        resume: Id of a stopped experiment to resume instead of creating one.
        baseline: After a finished search, train (or read from the cache) the
            equal-compute baseline and say whether the search beat it.
    """

    config_path: Path
    download: bool = False
    download_dir: Path = REPO_ROOT / "downloads"
    glove_dim: int = 100
    timeout_s: float | None = None
    poll_s: float = 5.0
    top: int = 10
    port: int | None = None
    print_config: bool = False
    resume: str | None = None
    baseline: bool = True


def current_search(layout: SearchLayout) -> Search | None:
    """The search as its journal tells it so far (None before the first event)."""
    return load_search(layout.root) if layout.journal_path.is_file() else None


def ranked(search: Search | None) -> list[LeaderboardRow]:
    """Reported individuals, best by the search's fitness first (the report's leaderboard)."""
    return leaderboard(search) if search is not None else []


def best_row(search: Search | None, rows: Sequence[LeaderboardRow]) -> LeaderboardRow | None:
    """The row of the search's best individual: :meth:`Search.best`, what ``predict`` and ``export`` load."""
    record = search.best() if search is not None else None
    return next((r for r in rows if record is not None and r.indiv_id == record.indiv_id), None)


def _best_text(row: LeaderboardRow) -> str:
    if row.fitness_key in ("default", "val_f1"):
        return f"best val F1 {row.f1:.2f} (individual {row.indiv_id})"
    return f"best {row.fitness_key} {row.fitness_value:.4f} (individual {row.indiv_id}, val F1 {row.f1:.2f})"


def progress_line(progress: Progress, rows: Sequence[LeaderboardRow], total: int | None) -> str:
    counts = progress.trials_by_status
    done = sum(n for status, n in counts.items() if status in {"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"})
    running = counts.get("RUNNING", 0) + counts.get("WAITING", 0)
    best_text = _best_text(rows[0]) if rows else "no result yet"
    of = f"/{total}" if total else ""
    return f"[{progress.elapsed:6.0f}s] {progress.status:<15} trials done {done}{of}, running {running}, {best_text}"


def how_to_continue(launch: LaunchConfig, experiment: Experiment, config_path: Path) -> str:
    """The commands that resume, view and report a stopped experiment (all three real)."""
    workdir = launch.working_directory
    lines = [
        f"resume: {sys.executable} -m ga_squad run --config {config_path} --resume {experiment.id}",
        f"        (or nnictl resume {experiment.id} --experiment_dir {workdir})",
        f"view:   nnictl view {experiment.id} --experiment_dir {workdir} --port {experiment.port}",
    ]
    if launch.storage_root is not None:
        lines.append(f"report: {sys.executable} -m ga_squad report {launch.storage_root / experiment.id}")
    return "\n".join(lines)


@contextlib.contextmanager
def sigint_ignored() -> Iterator[None]:
    """A second Ctrl-C must not interrupt the stop that the first one asked for."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def main(cfg: RunConfig, out: TextIO | None = None, err: TextIO | None = None) -> int:
    out = out or sys.stdout  # looked up per call: tests and callers may swap sys.stdout
    err = err or sys.stderr
    launch = load_launch_config(cfg.config_path)
    for override in launch.overrides:
        print(override, file=err)
    for warning in launch.warnings:
        print(f"warning: {warning}", file=err)
    if cfg.print_config:
        out.write(launch.to_yaml())
        return 0
    if cfg.port is not None:
        check_port_free(cfg.port)
    if cfg.download:
        paths = fetch_all(cfg.download_dir, glove_dim=cfg.glove_dim)
        print("downloaded: " + ", ".join(f"{k}={v}" for k, v in paths.items()), file=out)
    timeout = cfg.timeout_s if cfg.timeout_s is not None else launch.max_duration_s
    save_root = launch.storage_root
    verb = f"resuming NNI experiment {cfg.resume}" if cfg.resume else "starting NNI experiment"
    print(f"{verb} from {cfg.config_path} (storage root {save_root}, "
          f"wait {'unlimited' if timeout is None else f'{timeout:.0f} s'})", file=out, flush=True)
    baseline = cfg.baseline and launch.platforms == {"local"}
    if cfg.baseline and not baseline:  # said once, up front; the baseline runs the trial command on this machine
        print(f"equal-compute baseline: not computed for {'/'.join(sorted(launch.platforms))} trials (their "
              f"trial command's data and storage paths are the workers'; --no-baseline silences this)",
              file=out, flush=True)
    started = time.monotonic()
    # NNI would show a held experiment only as "Tuner did not connect in 10 seconds": name the holder first.
    check_tuner_lock(save_root, (launch.get("tuner", "classArgs") or {}).get("experiment_id") or cfg.resume)
    if cfg.resume:  # a tuner that misses NNI's 10 s deadline on a loaded machine is resumed again
        experiment = resume_retrying(launch, cfg.resume, port=cfg.port, say=lambda m: print(m, file=err, flush=True))
    else:
        experiment = Experiment.create(launch, port=cfg.port)
    layout = SearchLayout.for_experiment(save_root, experiment.id) if save_root is not None else None
    journal = f", journal {layout.journal_path}" if layout is not None else ""
    print(f"experiment {experiment.id}: web UI http://127.0.0.1:{experiment.port} (open while it runs){journal}",
          file=out, flush=True)

    def show(progress: Progress) -> None:
        rows = ranked(current_search(layout)) if layout is not None else []
        print(progress_line(progress, rows, launch.max_trial_number), file=out, flush=True)

    try:
        status = experiment.wait(timeout, poll=cfg.poll_s, on_progress=show)
    except KeyboardInterrupt:
        print(f"\ninterrupted: stopping experiment {experiment.id} ...", file=err, flush=True)
        with sigint_ignored():
            experiment.stop()
        print(f"experiment {experiment.id} stopped; its trials and checkpoints so far are kept.\n"
              f"{how_to_continue(launch, experiment, cfg.config_path)}", file=err)
        return 130
    except ExperimentTimeout as exc:
        with sigint_ignored():
            experiment.stop()
        print(f"error: {exc} (the wait is maxExperimentDuration or --timeout); stopped it.\n"
              f"{how_to_continue(launch, experiment, cfg.config_path)}", file=err)
        status = "TIMEOUT"
    finally:
        with sigint_ignored():
            experiment.stop()
    if layout is None:
        print(f"\nexperiment {experiment.id} {status} in {time.monotonic() - started:.0f} s", file=out)
        return 0 if status == "DONE" else 1
    search = current_search(layout)
    best = ranked(search)
    print(f"\nexperiment {experiment.id} {status} in {time.monotonic() - started:.0f} s; "
          f"{len(best)} trials reported, {sum(1 for r in best if r.warm_start)} warm-started from a parent\n",
          file=out)
    if search is not None:
        print(leaderboard_markdown(best, limit=cfg.top), file=out)
    print(f"\nlineage journal: {layout.journal_path}", file=out)
    top = best_row(search, best)
    if search is not None and top is not None:
        print(f"best checkpoint: {search.save_dir(top.indiv_id)} (individual {top.indiv_id}, by "
              f"{search.fitness.describe()}: what predict and export load)", file=out)
    if baseline and search is not None and top is not None and status == "DONE":
        print(f"\n{equal_compute_summary(launch, search, out, err)}", file=out)
        record = track_record_line(cfg.config_path)
        if record is not None:
            print(record, file=out)
    print(f"report:          {sys.executable} -m ga_squad report {layout.root}", file=out)
    return 0 if best and status != "TIMEOUT" else 1


def track_record_line(config_path: Path) -> str | None:
    """For the shipped ``config.yml``: the search's measured gap to the best preset over report seeds.

    Other configurations have no such record, so nothing is said for them.
    """
    if Path(config_path).resolve() != (REPO_ROOT / "config.yml").resolve():
        return None
    gap = load_track_record(REPO_ROOT / "results")
    return None if gap is None else track_record_text(gap)


def equal_compute_summary(launch: LaunchConfig, search: Search, out: TextIO, err: TextIO) -> str:
    """The best preset a user would otherwise train (once per data and config), against the search's best.

    Progress (a bar on a terminal, a line per preset) goes to ``err``.
    """
    print(f"\nequal-compute baseline: training {', '.join(baseline_preset_names(launch))} each alone for the "
          f"search's trial-epochs; B is the best by the search's fitness on validation (each preset is cached "
          f"after its first time) ...", file=out, flush=True)
    try:
        records = run_baseline(launch, search.root, stream=err)
    except (BaselineUnavailable, subprocess.TimeoutExpired) as exc:
        return f"equal-compute baseline not computed: {exc}"
    return baseline_comparison(search, records)[1]


def one_line(exc: BaseException) -> str:
    """First and last line of a multi-line error (nnictl's output ends with NNI's own error)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if len(lines) <= 1:
        return lines[0] if lines else type(exc).__name__
    return f"{lines[0].rstrip(':')}: {lines[-1]} (--log-level debug for details)"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ga_squad run", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, help="NNI experiment YAML (default config.yml, or config_full.yml with --download)")
    p.add_argument("--print-config", action="store_true",
                   help="print the exact YAML that would be submitted (overrides on stderr) and exit")
    p.add_argument("--resume", metavar="ID", help="resume this stopped experiment (of the config's working directory)")
    p.add_argument("--download", action="store_true", help="fetch SQuAD v1.1 and GloVe first (official locations)")
    p.add_argument("--download-dir", type=Path, default=REPO_ROOT / "downloads")
    p.add_argument("--glove-dim", type=int, default=100, choices=(50, 100, 200, 300))
    p.add_argument("--timeout", type=float, default=None,
                   help="seconds to wait for the experiment (default: its maxExperimentDuration; none: no limit)")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument("--top", type=int, default=10, help="rows in the leaderboard")
    p.add_argument("--port", type=int, help="NNI REST/web UI port (default: a free one)")
    p.add_argument("--no-baseline", action="store_true",
                   help="skip the equal-compute baseline (every preset trained alone for the search's budget)")
    p.add_argument("--log-level", default="WARNING", help="debug also keeps tracebacks of errors")
    return p


def cli(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    debug = args.log_level.upper() == "DEBUG"
    logging.basicConfig(level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    default_config = "config_full.yml" if args.download else "config.yml"
    cfg = RunConfig(
        config_path=(args.config or REPO_ROOT / default_config).resolve(),
        download=args.download,
        download_dir=args.download_dir,
        glove_dim=args.glove_dim,
        timeout_s=args.timeout,
        poll_s=args.poll,
        top=args.top,
        port=args.port,
        print_config=args.print_config,
        resume=args.resume,
        baseline=not args.no_baseline,
    )
    try:
        return main(cfg)
    except ConfigError as exc:
        if debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except (ExperimentError, DownloadError) as exc:
        if debug:
            raise
        print(f"error: {one_line(exc)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        if debug:
            raise
        print("interrupted before the experiment started; `nnictl experiment list` shows any that did",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(cli())

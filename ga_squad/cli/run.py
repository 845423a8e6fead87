"""The main job: run a search through NNI, show progress, print the leaderboard.

``python -m ga_squad run`` (what ``make run`` calls) launches ``config.yml``
(the bundled SQuAD sample, offline) with ``nnictl``, polls it until it ends,
always stops it, and prints the top architectures with the paths of the
lineage journal and the best checkpoint. ``--download`` first fetches the
official SQuAD v1.1 files and GloVe (see :mod:`ga_squad.launch.download`) and, unless
``--config`` says otherwise, runs ``config_full.yml``.

The user-facing YAML is turned into an :class:`~ga_squad.launch.experiment.ExperimentSpec`
with every relative path resolved against the config file's folder, so the
command works from any working directory, and ``python`` in the trial command
is this environment's interpreter.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import yaml

from ga_squad.search.graph import Graph, LayerType, layer_label
from ga_squad.search.vocabulary import SHORT
from ga_squad.launch.experiment import Experiment, ExperimentSpec, Progress
from ga_squad.search.paths import SearchLayout
from ga_squad.analysis.report import LeaderboardRow, Search, leaderboard, load_search

_logger = logging.getLogger(__name__)
REPO_ROOT = Path(__file__).resolve().parents[2]


class ConfigError(ValueError):
    """The experiment YAML is missing, malformed or not a local ga-squad search."""


@dataclass(frozen=True)
class RunConfig:
    """What ``python -m ga_squad run`` was asked to do."""

    config_path: Path
    download: bool = False
    download_dir: Path = REPO_ROOT / "downloads"
    glove_dim: int = 100
    timeout_s: float = 3600.0
    poll_s: float = 5.0
    top: int = 10
    port: int | None = None


def load_spec(config_path: Path, env: Mapping[str, str] | None = None) -> ExperimentSpec:
    """Read an NNI v2 YAML config of a local ga-squad search into an ExperimentSpec.

    Raises:
        ConfigError: naming the file and the problem.
    """
    if not config_path.is_file():
        raise ConfigError(f"experiment config {config_path} does not exist")
    try:
        raw = yaml.safe_load(config_path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{config_path} is not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{config_path} must hold a YAML mapping, got {type(raw).__name__}")
    platform = (raw.get("trainingService") or {}).get("platform")
    if platform != "local":
        raise ConfigError(
            f"{config_path}: `run` drives local experiments (trainingService.platform: local), "
            f"got {platform!r}; launch other platforms with `nnictl create --config {config_path.name}`"
        )
    for key in ("trialCommand", "tuner"):
        if key not in raw:
            raise ConfigError(f"{config_path} lacks {key!r}")
    tuner = raw["tuner"]
    class_args = dict(tuner.get("classArgs") or {})
    if "save_dir_root" not in class_args:
        raise ConfigError(f"{config_path}: tuner.classArgs.save_dir_root is required")
    base = config_path.resolve().parent
    class_args["save_dir_root"] = str(_resolve(base, class_args["save_dir_root"]))
    bin_dir = str(Path(sys.executable).parent)
    return ExperimentSpec(
        trial_command=str(raw["trialCommand"]).strip(),
        trial_code_directory=_resolve(base, raw.get("trialCodeDirectory", ".")),
        tuner_code_directory=_resolve(base, tuner.get("codeDirectory", ".")),
        tuner_class_name=str(tuner["className"]),
        tuner_class_args=class_args,
        working_directory=_resolve(base, raw.get("experimentWorkingDirectory", "runs/nni")),
        trial_concurrency=int(raw.get("trialConcurrency", 1)),
        max_trial_number=raw.get("maxTrialNumber"),
        max_experiment_duration=raw.get("maxExperimentDuration"),
        experiment_name=str(raw.get("experimentName", "ga-squad")),
        # `python` in trialCommand must be this environment's interpreter.
        env={"PATH": bin_dir + os.pathsep + os.environ.get("PATH", ""), **(env or {})},
    )


def _resolve(base: Path, value: str | os.PathLike[str]) -> Path:
    path = Path(os.path.expanduser(str(value)))
    return path if path.is_absolute() else (base / path).resolve()


def current_search(layout: SearchLayout) -> Search | None:
    """The search as its journal tells it so far (None before the first event)."""
    return load_search(layout.root) if layout.journal_path.is_file() else None


def ranked(search: Search | None) -> list[LeaderboardRow]:
    """Reported individuals, best dev F1 first (the report's leaderboard)."""
    return leaderboard(search) if search is not None else []


def progress_line(progress: Progress, rows: Sequence[LeaderboardRow], total: int | None) -> str:
    counts = progress.trials_by_status
    done = sum(n for status, n in counts.items() if status in {"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"})
    running = counts.get("RUNNING", 0) + counts.get("WAITING", 0)
    best_text = f"best F1 {rows[0].f1:.2f} (individual {rows[0].indiv_id})" if rows else "no result yet"
    of = f"/{total}" if total else ""
    return f"[{progress.elapsed:6.0f}s] {progress.status:<15} trials done {done}{of}, running {running}, {best_text}"


def describe_layers(graph: Graph) -> str:
    """Hidden layers in topological order, then inputs' features and pointer kinds.

    E.g. ``rnn>att>sa | 2 skips`` or ``rnn:lstm>bidaf>rnn | +em+tf | end:conditioned``.
    """
    short = {LayerType.ATTENTION: "att", LayerType.SELF_ATTENTION: "sa"}
    text = ">".join(short.get(layer.type, layer_label(layer)) for layer in graph.hidden_layers)
    skips = sum(len(layer.skips) for layer in graph.layers)
    parts = [text] + ([f"{skips} skip{'s' if skips != 1 else ''}"] if skips else [])
    features = sorted({f for name in ("question", "passage") for f in graph[name].features})
    if features:
        parts.append("+" + "+".join(SHORT.get(f, f) for f in features))
    parts += [f"{o}:{graph[o].pointer}" for o in ("begin", "end") if graph[o].pointer != "linear"]
    return " | ".join(parts)


def leaderboard_table(search: Search, top: int) -> str:
    """The top ``top`` reported individuals as a fixed-width table."""
    header = f"{'rank':>4} {'id':>4} {'parent':>6} {'F1':>6} {'EM':>6} {'inherited':>10} {'fresh':>9}  hidden layers"
    rows = [header, "-" * len(header)]
    for row in leaderboard(search)[:top]:
        parent = "-" if row.parent_id is None else str(row.parent_id)
        em = float("nan") if row.em is None else row.em
        rows.append(
            f"{row.rank:>4} {row.indiv_id:>4} {parent:>6} {row.f1:>6.2f} {em:>6.2f} "
            f"{row.inherited_params:>10,} {row.fresh_params:>9,}  "
            f"{describe_layers(search.records[row.indiv_id].graph)}"
        )
    return "\n".join(rows)


def main(cfg: RunConfig, out: TextIO = sys.stdout) -> int:
    spec = load_spec(cfg.config_path)
    if cfg.download:
        from ga_squad.launch.download import fetch_all

        paths = fetch_all(cfg.download_dir, glove_dim=cfg.glove_dim)
        print("downloaded: " + ", ".join(f"{k}={v}" for k, v in paths.items()), file=out)
    save_root = Path(spec.tuner_class_args["save_dir_root"])
    print(f"starting NNI experiment from {cfg.config_path} (storage root {save_root})", file=out, flush=True)
    started = time.monotonic()
    with Experiment.create(spec, port=cfg.port) as experiment:
        layout = SearchLayout.for_experiment(save_root, experiment.id)
        print(
            f"experiment {experiment.id}: web UI http://127.0.0.1:{experiment.port} "
            f"(open while it runs), journal {layout.journal_path}",
            file=out, flush=True,
        )

        def show(progress: Progress) -> None:
            print(progress_line(progress, ranked(current_search(layout)), spec.max_trial_number),
                  file=out, flush=True)

        status = experiment.wait(cfg.timeout_s, poll=cfg.poll_s, on_progress=show)
    search = current_search(layout)
    best = ranked(search)
    print(f"\nexperiment {experiment.id} {status} in {time.monotonic() - started:.0f} s; "
          f"{len(best)} trials reported, {sum(1 for r in best if r.warm_start)} warm-started from a parent\n",
          file=out)
    if search is not None:
        print(leaderboard_table(search, cfg.top), file=out)
    print(f"\nlineage journal: {layout.journal_path}", file=out)
    if search is not None and best:
        print(f"best checkpoint: {search.save_dir(best[0].indiv_id)}", file=out)
    print(f"report:          {sys.executable} -m ga_squad report {layout.root}", file=out)
    return 0 if best else 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m ga_squad run", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", type=Path, help="NNI experiment YAML (default config.yml, or config_full.yml with --download)")
    p.add_argument("--download", action="store_true", help="fetch SQuAD v1.1 and GloVe first (official locations)")
    p.add_argument("--download-dir", type=Path, default=REPO_ROOT / "downloads")
    p.add_argument("--glove-dim", type=int, default=100, choices=(50, 100, 200, 300))
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds before giving up on the experiment")
    p.add_argument("--poll", type=float, default=5.0, help="seconds between progress lines")
    p.add_argument("--top", type=int, default=10, help="rows in the leaderboard")
    p.add_argument("--port", type=int, help="NNI REST/web UI port (default: a free one)")
    p.add_argument("--log-level", default="WARNING")
    return p


def cli(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    )
    try:
        return main(cfg)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(cli())

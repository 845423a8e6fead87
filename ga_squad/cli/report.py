"""``python -m ga_squad report``: leaderboard, figures and summary of a search.

Reads the files a search leaves behind (no running NNI needed), optionally
joins a running NNI experiment's trial records, writes the report
(:func:`ga_squad.analysis.report.write_report`) and prints the top of the
leaderboard with the paths written.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from ga_squad.analysis.leaderboard import leaderboard
from ga_squad.cli.common import (UserError, add_log_level, import_tensorflow, is_debug, log_level_of, run_command,
                                 setup_logging)
from ga_squad.analysis.markdown import leaderboard_markdown
from ga_squad.launch.rest import fetch_nni_trials
from ga_squad.analysis.report import write_report
from ga_squad.analysis.search_dir import default_cache_dir, load_search, with_nni
from ga_squad.reader.dataset import DataConfig
from ga_squad.store.best import FitnessUnknown
from ga_squad.store.contract import MissingScore

__all__ = ["cli"]

TOP = 10  # leaderboard rows printed (the CSV and summary hold them all)


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


def _data_override(args: argparse.Namespace) -> DataConfig | None:
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
    # A journal that does not say which way its fitness is better, or a result without its
    # validation score, is one line naming the problem.
    return run_command(lambda: _cli(raw), log_level_of(raw), expected=(FitnessUnknown, MissingScore))


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
        import_tensorflow(is_debug(args.log_level))  # quietly: TensorFlow's start-up chatter stays hidden
        from ga_squad.reader.training import configure_tensorflow  # why here: loads TensorFlow; only to re-evaluate

        configure_tensorflow()
    out = Path(args.out) if args.out else search.root / "report"
    written = write_report(search, out, reevaluate=not args.no_reevaluate, data_override=_data_override(args),
                           cache_dir=args.cache_dir or default_cache_dir(search), samples=args.samples,
                           cold=cold)
    print(leaderboard_markdown(leaderboard(search), limit=TOP))
    payload = json.loads(written["json"].read_text(encoding="utf-8"))
    if payload["best"] is not None:
        best = payload["best"]
        print(f"\nbest (what predict and export load): individual {best['indiv_id']}, "
              f"{search.fitness.key} {best['fitness_value']:.4f} ({search.fitness.mode.value}d), {best['save_dir']}")
    print(f"\n{payload['equal_compute_note']}\n")
    for name, path in written.items():
        print(f"{name}: {path}")
    if payload["reevaluation_failed"]:
        r = payload["reevaluation"]
        detail = payload["reevaluation_note"] or (
            f"EM/F1 now {r['em']:.4f}/{r['f1']:.4f}, reported {r['reported_em']}/{r['reported_f1']}")
        print(f"error: the best checkpoint does not reproduce its trial: {detail}", file=sys.stderr)
        return 3
    return 0


if __name__ == "__main__":
    sys.exit(cli())

"""The search report: pure functions on hand-written journals, then the CLI and the
re-evaluation on a tiny real search (tests/tiny_search.py)."""

from __future__ import annotations

import dataclasses
import json
import math
import re
import subprocess
import sys
import os
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from ga_squad.analysis.leaderboard import leaderboard, trial_curve
from ga_squad.analysis.lineage import generations, lineage_edges
from ga_squad.analysis.markdown import leaderboard_markdown, paired_markdown
from ga_squad.analysis.nni_trials import parse_nni_trials
from ga_squad.analysis.report import FIGURES, write_report
from ga_squad.analysis.search_dir import Search, default_cache_dir, find_search_dir, load_search
from ga_squad.analysis.warm_cold import paired_children, warm_vs_cold
from ga_squad.cli.report import cli as report_cli
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.contract import MissingScore
from ga_squad.store.engine import search_header
from ga_squad.store.retention import RetentionConfig
from ga_squad.search.graph import base_reader
from ga_squad.store.journal import Journal, read_events
from ga_squad.store.paths import SearchLayout
from tiny_search import TinySearch, tiny_search

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


# --- hand-written journals ------------------------------------------------------
def _result(indiv_id: int, parent_id: int | None, f1: float, *, warm: bool, epochs: int = 1,
            initial_f1: float = 1.0) -> dict[str, Any]:
    """A trial's result as trials report it: fitness = validation F1; the dev set scored once.

    The dev scores run opposite to the validation ones (``100 - f1``), so a
    leaderboard that ranked by the dev set would come out reversed.
    """
    dev = 100.0 - f1
    return {"default": f1, "val_f1": f1, "val_em": f1 / 2, "val_loss": 5.0, "initial_val_loss": 6.0,
            "initial_val_f1": initial_f1, "dev_f1": dev, "dev_em": dev / 2, "f1": dev, "em": dev / 2,
            "inherited_params": 300 if warm else 0, "fresh_params": 100 if warm else 400,
            "total_params": 400, "epochs": epochs, "train_seconds": 1.5, "warm_start": warm,
            "indiv_id": indiv_id, "parent_id": parent_id}


def write_journal(root: Path, experiment_id: str, trials: list[tuple[int, int | None, float | None, bool]],
                  report_sequence: list[int] | None = None, start: float = 1000.0) -> Path:
    """A journal of ``(indiv_id, parent_id, f1 or None for failed, warm)`` trials.

    Results arrive in ``report_sequence`` order (default: id order).
    """
    layout = SearchLayout.for_experiment(root, experiment_id)
    clock = iter([start - 1.0, *(start + k for k in range(1000))])  # the search event just before the trials
    graph = base_reader().to_dict()
    by_id = {t[0]: t for t in trials}
    with Journal(layout.journal_path, fsync=False, clock=lambda: next(clock)) as journal:
        journal.append("search", **search_header(EvolutionConfig(), RetentionConfig()))  # ranked by default F1
        for indiv_id, parent_id, _, _ in trials:
            journal.append("generated", indiv_id=indiv_id, parent_id=parent_id, graph=graph,
                           shared_ids=None if parent_id is None else ["a", "b"], mutation=f"m{indiv_id}",
                           origin="initial" if parent_id is None else "child", seed=indiv_id, session=0,
                           save_dir=str(layout.individual_dir(indiv_id)), restore_dir=None)
            journal.append("dispatched", indiv_id=indiv_id, parent_id=parent_id, parameter_id=indiv_id, session=0)
        for indiv_id in report_sequence or [t[0] for t in trials]:
            _, parent_id, f1, warm = by_id[indiv_id]
            if f1 is None:
                journal.append("failed", indiv_id=indiv_id, parent_id=parent_id, parameter_id=indiv_id,
                               reason="failed", detail="", session=0)
            else:
                journal.append("reported", indiv_id=indiv_id, parent_id=parent_id, parameter_id=indiv_id,
                               value=f1, result=_result(indiv_id, parent_id, f1, warm=warm), late=False, session=0)
    return layout.root


HAND = [(0, None, 10.0, False), (1, None, 30.0, False), (2, 1, 40.0, True), (3, 1, None, False),
        (4, 2, 20.0, True), (5, 0, 10.0, False)]


@pytest.fixture()
def hand_search(tmp_path: Path) -> Search:
    write_journal(tmp_path, "hand", HAND, report_sequence=[1, 0, 2, 3, 5, 4])
    return load_search(tmp_path)


def test_find_search_dir_picks_latest_or_named(tmp_path: Path) -> None:
    old = write_journal(tmp_path, "old", HAND[:1])
    new = write_journal(tmp_path, "new", HAND[:2])
    (tmp_path / "cache").mkdir()  # folders without a journal are not searches
    os.utime(old / "lineage.jsonl", (time.time() - 100, time.time() - 100))
    assert find_search_dir(tmp_path) == new
    assert find_search_dir(tmp_path, "old") == old
    assert find_search_dir(old) == old  # an experiment folder directly
    assert find_search_dir(old, "old") == old
    with pytest.raises(FileNotFoundError):
        find_search_dir(tmp_path, "missing")
    with pytest.raises(FileNotFoundError):
        find_search_dir(tmp_path / "cache")
    assert default_cache_dir(load_search(old)) == str(tmp_path / "cache")


def test_leaderboard_ranks_reported_by_f1(hand_search: Search) -> None:
    rows = leaderboard(hand_search)
    assert [r.indiv_id for r in rows] == [2, 1, 4, 0, 5]  # failed 3 left out; tie 0/5 by id
    assert [r.rank for r in rows] == [1, 2, 3, 4, 5]
    top = rows[0]
    assert (top.parent_id, top.f1, top.em, top.inherited_params, top.fresh_params) == (1, 40.0, 20.0, 300, 100)
    assert top.inherited_fraction == pytest.approx(0.75) and top.warm_start
    assert top.hidden_layers == len(base_reader().hidden_layers) and sum(top.layer_types.values()) == top.hidden_layers
    assert rows[1].inherited_fraction == 0.0 and not rows[1].warm_start
    assert hand_search.best() is not None and hand_search.best().indiv_id == 2
    assert top.layer_order == tuple(layer.type.value for layer in base_reader().hidden_layers) and top.skips == 0


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_leaderboard_ranks_by_validation_and_shows_the_dev_set_apart(hand_search: Search) -> None:
    rows = leaderboard(hand_search)
    assert [r.indiv_id for r in rows] == [2, 1, 4, 0, 5]  # by validation F1; the dev F1s run the other way
    assert [(r.f1, r.em, r.dev_f1, r.dev_em) for r in rows[:2]] == [(40.0, 20.0, 60.0, 30.0), (30.0, 15.0, 70.0, 35.0)]


def test_results_from_before_the_validation_split_are_refused_naming_the_key(tmp_path: Path) -> None:
    """Old journals reported only the dev F1 (``f1`` = ``default``): never read as a validation F1."""
    root = write_journal(tmp_path, "old", [(0, None, 10.0, False), (1, 0, 30.0, True)])
    events = read_events(root / "lineage.jsonl")
    old = {"inherited_params", "fresh_params", "epochs", "train_seconds", "warm_start", "indiv_id", "parent_id"}
    lines = []
    for event in events:
        if event["event"] == "reported":
            value = event["value"]
            event["result"] = {**{k: v for k, v in event["result"].items() if k in old},
                               "default": value, "f1": value, "em": value / 2, "initial_f1": 1.0}
        lines.append(json.dumps(event))
    (root / "lineage.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(MissingScore, match="'val_f1'"):
        leaderboard(load_search(root))
    assert report_cli([str(root), "--no-reevaluate"]) == 1


def test_leaderboard_markdown_is_one_aligned_table(hand_search: Search) -> None:
    rows = leaderboard(hand_search)
    rows[0] = dataclasses.replace(rows[0], hidden_layers=3, layer_order=("rnn", "attention", "self_attention"),
                                  skips=2, inherited_params=1234567)
    rows[1] = dataclasses.replace(rows[1], features=("align", "tf"), pointers=("end:conditioned",))
    text = leaderboard_markdown(rows, limit=3)
    table = text.split("\n\n")[0].splitlines()
    assert len({len(line) for line in table}) == 1  # padded: the columns line up in a terminal
    head, rule, *body = table
    assert _cells(head)[:8] == ["rank", "id", "parent", "val F1", "val EM", "dev F1", "dev EM", "hidden layers"]
    assert set(rule) <= set("|-:") and rule.count("|") == head.count("|")
    assert [_cells(line)[1] for line in body] == ["2", "1", "4"]
    assert _cells(body[0])[3:7] == ["40.00", "20.00", "60.00", "30.00"]  # validation ranks; dev is shown
    assert _cells(body[0])[7] == "3: rnn>att>sa, 2 skips" and _cells(body[0])[8] == "1,234,567"
    # features and pointer kinds stay inside their cell (no stray "|" splitting the row)
    assert len(_cells(body[1])) == len(_cells(head)) and _cells(body[1])[7].endswith("; +align+tf; end:conditioned")
    assert "top 3 of 5" in text
    assert "top " not in leaderboard_markdown(rows) and len(leaderboard_markdown(rows).split("\n\n")[0].splitlines()) == 7
    assert leaderboard_markdown([]) == "No trial has reported yet."


def test_analysis_imports_point_one_way() -> None:
    # plots draws the analysis records without importing the report (which imports plots), and
    # nothing but the re-evaluation loads TensorFlow.
    code = ("import sys; import ga_squad.analysis.plots, ga_squad.analysis.markdown, ga_squad.cli.report; "
            "print('ga_squad.analysis.report' in sys.modules, 'tensorflow' in sys.modules)")
    first = ("import sys; import ga_squad.analysis.plots; "
             "print('ga_squad.analysis.report' in sys.modules, 'tensorflow' in sys.modules)")
    repo = Path(__file__).resolve().parents[1]
    for script, expected in ((first, ["False", "False"]), (code, ["True", "False"])):
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=repo)
        assert run.stdout.split() == expected


def test_trial_curve_in_report_order_with_running_best(hand_search: Search) -> None:
    points = trial_curve(hand_search)
    assert [p.indiv_id for p in points] == [1, 0, 2, 5, 4]  # order results arrived, failed 3 skipped
    assert [p.position for p in points] == [1, 2, 3, 4, 5]
    assert [p.best_so_far for p in points] == [30.0, 30.0, 40.0, 40.0, 40.0]
    assert [p.warm_start for p in points] == [False, False, True, False, True]


def test_lineage_edges_generations_and_layout(hand_search: Search) -> None:
    edges = {(e.parent_id, e.child_id): e for e in lineage_edges(hand_search)}
    assert set(edges) == {(1, 2), (1, 3), (2, 4), (0, 5)}
    assert edges[(1, 2)].inherited_fraction == pytest.approx(0.75) and edges[(1, 2)].shared_layers == 2
    assert edges[(1, 3)].inherited_fraction is None  # failed: no counts
    assert edges[(0, 5)].inherited_fraction == 0.0 and not edges[(0, 5)].warm_start
    assert generations(hand_search) == {0: 0, 1: 0, 2: 1, 3: 1, 4: 2, 5: 1}
    from ga_squad.analysis.plots import lineage_layout

    pos = lineage_layout({i: r.parent_id for i, r in hand_search.records.items()})
    assert {i: -y for i, (_, y) in pos.items()} == {0: 0, 1: 0, 2: 1, 3: 1, 4: 2, 5: 1}
    assert pos[5][0] < pos[2][0] < pos[3][0]  # children ordered by their parent's position
    assert len({p for p in pos.values()}) == len(pos)  # no two nodes on one spot


def test_warm_vs_cold_compares_same_epochs(tmp_path: Path) -> None:
    write_journal(tmp_path, "wc", [(0, None, 10.0, False), (1, None, 20.0, False), (2, 1, 40.0, True),
                                   (3, 1, 24.0, False)])
    comparison = warm_vs_cold(load_search(tmp_path))
    (group,) = comparison.groups
    assert group.epochs == 1 and group.warm_ids == (2,) and group.cold_ids == (0, 1, 3)
    assert group.warm_f1 == 40.0 and group.cold_f1 == pytest.approx(18.0)
    assert group.warm_initial_f1 == 1.0
    assert comparison.pairs == ((2, 1, 40.0, 20.0),)  # the cold child 3 is no warm pair


def test_paired_children_against_a_no_sharing_replay(tmp_path: Path) -> None:
    trials = [(0, None, 10.0, False), (1, None, 20.0, False), (2, 1, 40.0, True), (3, 0, 30.0, True)]
    write_journal(tmp_path, "sharing", trials)
    write_journal(tmp_path, "cold", [(0, None, 10.0, False), (1, None, 20.0, False), (2, 1, 25.0, False),
                                     (3, 1, 5.0, False)])  # 3: another parent, so no pair
    warm, cold = load_search(tmp_path, "sharing"), load_search(tmp_path, "cold")
    (pair,) = paired_children(warm, cold)
    assert (pair.indiv_id, pair.parent_id, pair.epochs, pair.warm_f1, pair.cold_f1) == (2, 1, 1, 40.0, 25.0)
    assert "+15.00" in paired_markdown([pair]) and "warm better in 1" in paired_markdown([pair])
    out = tmp_path / "out"
    assert report_cli([str(tmp_path), "--experiment", "sharing", "--cold-experiment", "cold",
                       "--no-reevaluate", "--out", str(out)]) == 0
    assert (out / FIGURES["paired"]).read_bytes().startswith(PNG_SIGNATURE)
    assert "no-sharing replay `cold`" in (out / "summary.md").read_text()
    assert json.loads((out / "report.json").read_text())["paired_children"][0]["cold_f1"] == 25.0


def test_empty_and_running_search_render(tmp_path: Path) -> None:
    write_journal(tmp_path, "running", [(0, None, None, False)], report_sequence=[])
    search = load_search(tmp_path)
    assert leaderboard(search) == [] and trial_curve(search) == [] and search.best() is None
    written = write_report(search, tmp_path / "out", reevaluate=True)
    assert "No trial has reported yet" in written["summary"].read_text()
    for key in ("curve", "lineage", "warm_cold"):
        assert written[key].read_bytes().startswith(PNG_SIGNATURE)


def test_architecture_drawing_of_every_layer_type() -> None:
    from ga_squad.search.graph import Graph, LayerType
    from ga_squad.analysis.plots import architecture_layout, plot_architecture, png_bytes

    graph = Graph.from_dict({
        "format": "ga-squad-graph", "version": 4, "layers": [
            {"id": "question", "type": "input", "stream": "question"},
            {"id": "passage", "type": "input", "stream": "passage", "features": ["exact_match", "aligned"]},
            {"id": "q1", "type": "rnn", "stream": "question", "inputs": ["question"], "cell": "lstm"},
            {"id": "qs", "type": "pool", "stream": "summary", "inputs": ["q1"]},
            {"id": "p0", "type": "bidaf", "stream": "passage", "inputs": ["passage", "q1"]},
            {"id": "p1", "type": "attention", "stream": "passage", "inputs": ["p0", "q1"]},
            {"id": "p2", "type": "self_attention", "stream": "passage", "inputs": ["p1"]},
            {"id": "p3", "type": "rnn", "stream": "passage", "inputs": ["p2"], "skips": ["p1"]},
            {"id": "begin", "type": "output", "stream": "passage", "inputs": ["p3", "qs"], "pointer": "bilinear"},
            {"id": "end", "type": "output", "stream": "passage", "inputs": ["p3"], "skips": ["p2"],
             "pointer": "conditioned"},
        ]})
    pos = architecture_layout(graph)
    assert pos["p3"][1] < pos["p2"][1] < pos["p1"][1] < pos["passage"][1]
    assert pos["q1"][0] < pos["p1"][0]  # question stream left of the passage stream
    assert pos["q1"][0] < pos["qs"][0] < pos["p1"][0]  # the question summary in between
    assert pos["end"][1] < pos["begin"][1]  # a conditioned end is drawn after begin
    assert {graph[i].type for i in pos} == set(LayerType)
    assert png_bytes(plot_architecture(graph, title="all types")).startswith(PNG_SIGNATURE)


# --- NNI records ----------------------------------------------------------------
def _nni_records(mapping: dict[str, int]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """trial-jobs and metric-data as NNI 3.0 serves them, with hyperParameters swapped."""
    jobs, metrics = [], []
    ids = list(mapping.items())
    for k, (trial_id, indiv_id) in enumerate(ids):
        other = ids[(k + 1) % len(ids)][1]  # NNI may record another trial's parameters
        value = json.dumps(json.dumps({"default": 10.0 + indiv_id, "f1": 10.0 + indiv_id, "indiv_id": indiv_id}))
        jobs.append({"trialJobId": trial_id, "status": "SUCCEEDED", "startTime": 1000 + k, "endTime": 2000 + k,
                     "hyperParameters": [json.dumps({"parameter_id": other, "parameters": {"indiv_id": other}})],
                     "finalMetricData": [{"timestamp": 1500, "trialJobId": trial_id, "type": "FINAL",
                                          "data": value}]})
        metrics.append({"trialJobId": trial_id, "parameterId": str(other), "type": "PERIODICAL",
                        "data": json.dumps(json.dumps(1.0)), "timestamp": 1400})
        metrics.append({"trialJobId": trial_id, "parameterId": str(other), "type": "FINAL", "data": value,
                        "timestamp": 1500})
    jobs.append({"trialJobId": "zzRun", "status": "RUNNING", "startTime": 3000,
                 "hyperParameters": [json.dumps({"parameter_id": 9, "parameters": {"indiv_id": 9}})]})
    return jobs, metrics


def test_parse_nni_trials_joins_on_final_metric_indiv_id() -> None:
    jobs, metrics = _nni_records({"aaA": 0, "bbB": 1, "ccC": 2})
    for only_jobs in (False, True):
        trials = parse_nni_trials(jobs, [] if only_jobs else metrics)
        assert {i: t.trial_job_id for i, t in trials.items()} == {0: "aaA", 1: "bbB", 2: "ccC"}
        assert trials[1].metrics["f1"] == 11.0 and trials[1].status == "SUCCEEDED"


@pytest.fixture()
def fake_nni() -> Iterator[tuple[int, dict[str, Any]]]:
    routes: dict[str, Any] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's name
            body = routes.get(self.path)
            if body is None:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], routes
    finally:
        server.shutdown()
        server.server_close()


def test_cli_pulls_nni_records(tmp_path: Path, fake_nni: tuple[int, dict[str, Any]],
                               capsys: pytest.CaptureFixture[str]) -> None:
    port, routes = fake_nni
    write_journal(tmp_path, "EXPabc12", HAND)
    jobs, metrics = _nni_records({"tA": 0, "tB": 1, "tC": 2, "tE": 4, "tF": 5})
    routes["/api/v1/nni/trial-jobs"], routes["/api/v1/nni/metric-data"] = jobs, metrics
    routes["/api/v1/nni/experiment"] = {"id": "EXPabc12", "params": {}}
    out = tmp_path / "out"
    assert report_cli([str(tmp_path), "--nni-experiment", "EXPabc12", "--port", str(port),
                       "--no-reevaluate", "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert "| tB | SUCCEEDED | 1 |" in summary and "NNI trial" in summary
    rows = json.loads((out / "report.json").read_text())["leaderboard"]
    assert {r["indiv_id"]: r["nni_trial"] for r in rows} == {0: "tA", 1: "tB", 2: "tC", 4: "tE", 5: "tF"}
    capsys.readouterr()
    routes["/api/v1/nni/experiment"] = {"id": "other"}  # the port serves another experiment
    assert report_cli([str(tmp_path), "--nni-experiment", "EXPabc12", "--port", str(port),
                       "--no-reevaluate", "--out", str(out)]) == 1
    assert "runs experiment 'other'" in capsys.readouterr().err
    routes.clear()  # NNI gone
    assert report_cli([str(tmp_path), "--nni-experiment", "EXPabc12", "--port", str(port),
                       "--no-reevaluate", "--out", str(out)]) == 1
    assert "NNI experiment EXPabc12" in capsys.readouterr().err


def test_cli_fails_when_the_best_checkpoint_is_missing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_journal(tmp_path, "nockpt", HAND)  # a journal without checkpoints
    config = tmp_path / "data.json"
    config.write_text(json.dumps({"train_path": "train.json", "dev_path": "dev.json"}))
    out = tmp_path / "out"
    assert report_cli([str(tmp_path), "--data-config", str(config), "--out", str(out)]) == 3
    assert "does not reproduce" in capsys.readouterr().err
    payload = json.loads((out / "report.json").read_text())
    assert payload["reevaluation_failed"] and "no published checkpoint" in payload["reevaluation_note"]
    assert "Re-evaluation failed" in (out / "summary.md").read_text()


def test_cli_missing_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_cli([str(tmp_path)]) == 1
    assert "no search" in capsys.readouterr().err


# --- a real tiny search -----------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    return tiny_search(tmp_path_factory)


def _valid_png(path: Path) -> None:
    import matplotlib.image

    assert path.read_bytes().startswith(PNG_SIGNATURE)
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100


@pytest.mark.slow
def test_leaderboard_equals_journal(tiny: TinySearch) -> None:
    search = load_search(tiny.save_dir_root)
    assert search.root == tiny.search_dir
    reported = {e["indiv_id"]: e for e in read_events(tiny.search_dir / "lineage.jsonl") if e["event"] == "reported"}
    rows = leaderboard(search)
    assert len(rows) == len(reported) == 4
    assert [r.f1 for r in rows] == sorted((r.f1 for r in rows), reverse=True)
    for row in rows:
        result = reported[row.indiv_id]["result"]
        # ranked by the fitness (validation), the official dev scores beside it
        assert row.f1 == result["val_f1"] == reported[row.indiv_id]["value"]
        assert row.em == result["val_em"]
        assert (row.dev_f1, row.dev_em) == (result["dev_f1"], result["dev_em"]) == (result["f1"], result["em"])
        assert (row.inherited_params, row.fresh_params) == (result["inherited_params"], result["fresh_params"])
        assert row.train_seconds == result["train_seconds"] and row.parent_id == reported[row.indiv_id]["parent_id"]
        assert row.warm_start == result["warm_start"] == (row.parent_id is not None)
    curve = trial_curve(search)
    assert [p.best_so_far for p in curve] == [max(p.f1 for p in curve[:k + 1]) for k in range(len(curve))]


@pytest.mark.slow
def test_cli_writes_figures_and_summary(tiny: TinySearch, tmp_path: Path) -> None:
    out = tmp_path / "report"
    argv = [str(tiny.save_dir_root), "--out", str(out)]
    from ga_squad.reader.checkpoint import read_manifest
    from ga_squad.analysis.reevaluate import DATA_CONFIG_KEY

    assert DATA_CONFIG_KEY in read_manifest(tiny.search_dir / "individuals" / "000000")  # no --data-config needed
    assert report_cli(argv) == 0
    figures = [name for key, name in FIGURES.items() if key != "paired"]  # paired: needs a replay
    for name in figures:
        _valid_png(out / name)
    summary = (out / "summary.md").read_text()
    for name in figures:
        assert f"]({name})" in summary
    payload = json.loads((out / "report.json").read_text())
    reported = {e["indiv_id"]: e["result"] for e in read_events(tiny.search_dir / "lineage.jsonl")
                if e["event"] == "reported"}
    assert {r["indiv_id"]: (r["f1"], r["em"], r["dev_f1"], r["dev_em"]) for r in payload["leaderboard"]} == \
        {i: (res["val_f1"], res["val_em"], res["dev_f1"], res["dev_em"]) for i, res in reported.items()}
    best = payload["leaderboard"][0]
    assert re.search(rf"^\|\s+1 \|\s+{best['indiv_id']} \|", summary, re.M) and f"{best['f1']:.2f}" in summary
    csv_rows = (out / "leaderboard.csv").read_text().splitlines()
    assert len(csv_rows) == 5 and csv_rows[0].startswith("rank,indiv_id,parent_id,f1,em,dev_f1,dev_em")
    reeval = payload["reevaluation"]
    assert reeval["matches"] and reeval["indiv_id"] == best["indiv_id"]
    # the re-evaluation scores the dev set again: it must give the dev F1 the trial reported
    assert math.isclose(reeval["f1"], best["dev_f1"], abs_tol=1e-6) and "**Match**" in summary


@pytest.mark.slow
def test_reevaluate_best_checkpoint(tiny: TinySearch) -> None:
    from ga_squad.reader.checkpoint import CheckpointError
    from ga_squad.reader.dataset import DataConfig
    from ga_squad.analysis.reevaluate import DataConfigMissing, data_config_for, reevaluate

    search = load_search(tiny.search_dir)
    best = search.best()
    assert best is not None
    config = DataConfig.from_dict(json.loads(tiny.data_config_path.read_text()))
    result = reevaluate(search.save_dir(best.indiv_id), config, samples=4)
    assert result.matches(), (result.em, result.f1, result.reported_em, result.reported_f1)
    assert result.em == best.result["em"] and result.f1 == best.result["f1"]
    assert result.dev_loss == pytest.approx(best.result["dev_loss"], rel=1e-5)
    assert result.predictions_agree == 1.0 and result.questions == config.dev_limit
    assert len(result.samples) == 4
    for sample in result.samples:
        assert sample.question.endswith("?") and sample.gold and 0 <= sample.f1 <= 100
    assert "| question | predicted | gold | F1 |" in result.to_markdown()
    # The data settings: explicit ones win; without any, a clear error.
    assert data_config_for({"data_config": config.to_dict()}) == config
    with pytest.raises(DataConfigMissing, match="--data-config"):
        data_config_for({"indiv_id": 3})
    # Another vocabulary does not fit the checkpoint's embedding rows: refused.
    with pytest.raises(CheckpointError, match="fingerprint"):
        reevaluate(search.save_dir(best.indiv_id), dataclasses.replace(config, train_limit=50))

"""Fault benchmark: what survives kills, crashes and NNI's parameter swaps, and what retention saves.

(a) **Kills during publish**: a process publishing checkpoint-sized files in
    a loop through the real publish path is killed with SIGKILL at random
    instants; after each kill a reader must see a complete checkpoint.
    Figures: kills survived, kills that landed mid-publish, torn and
    invisible checkpoints, leftovers after one ownership cleanup.
(b) **Dispatcher crashes with results in flight**: an in-process search is
    "crashed" (engine dropped without its last results) several times; each
    crash leaves trials that published their checkpoint but whose result never
    reached the tuner. Figures: results in flight, recovered from manifests on
    resume, lost.
(c) **Misattributed ends** under NNI 3.0's FIFO parameter hand-out (a trial
    that exits before asking shifts every later trial onto its predecessor's
    parameters; 10 % exit before asking, 20 % fail before reporting, 10 %
    exit 1 after reporting, 20 % of ends handled before their result): ends
    attributed to an individual the trial did not run, attributing by the
    form's parameter id (before), by job id and results, and by job id,
    results and claims (now).
(d) **Disk** after a simulated search (default 200 trials) whose trials
    publish tiny checkpoints, with ``keep: all`` and with ``keep: 2``; also
    extrapolated to a default-size reader (6.5 MB per checkpoint).

(e)-(i) **Issue 28's faults** (:mod:`benchmarks.fault_cases`): unreadable
    parents, damaged parent graphs, leftovers of killed writers, bad trial
    inputs, and retention (``keep: 1``) over real tiny trials, with bytes on
    disk, temporary files included.

Usage: python benchmarks/faults.py [--kills 30] [--trials 200] [--size 100000] [--seed 0]
       [--retention-trials 24] [--skip inputs retention ...] [--out-dir DIR]
Writes results/faults.json (or DIR/faults.json).
"""

from __future__ import annotations

import argparse
import logging
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]

from tests.fixtures.fake_checkpoint import kill_loop, publish_fake, simulate_search  # noqa: E402
from benchmarks import fault_cases  # noqa: E402
from benchmarks.bench_json import write_result  # noqa: E402
from ga_squad.store.claims import claim  # noqa: E402
from ga_squad.search.evolution import EvolutionConfig, Status  # noqa: E402
from ga_squad.store.journal import read_events  # noqa: E402
from ga_squad.store.paths import SearchLayout  # noqa: E402
from ga_squad.store.protocol import EngineProtocol, open_engine  # noqa: E402

DEFAULT_CHECKPOINT_BYTES = 6.5e6


def crashes_with_results_in_flight(root: Path, crashes: int, seed: int) -> dict[str, int]:
    """(b): each round dispatches 6 trials, delivers some results, publishes the rest without delivering."""
    rng = random.Random(seed)
    layout = SearchLayout.for_experiment(root, "crashes")
    config = EvolutionConfig(population_size=4, seed=seed)
    in_flight = pid = 0
    for _ in range(crashes):
        engine = open_engine(config, layout, fsync=False)
        ready = engine.request(list(range(pid, pid + 6)))
        pid += 6
        for parameter_id, params in ready:
            metrics = {"default": rng.random(), "indiv_id": params["indiv_id"]}
            fate = rng.random()
            if fate < 0.5:  # published and delivered
                publish_fake(params["save_dir"], params["indiv_id"], metrics, 1000)
                engine.report(parameter_id, metrics)
                engine.end(parameter_id, True)
            elif fate < 0.8:  # published, result in flight when the dispatcher dies
                publish_fake(params["save_dir"], params["indiv_id"], metrics, 1000)
                in_flight += 1
            # else: still training when the dispatcher dies (nothing to recover)
        engine.close()  # the crash: nothing more reaches this engine
    final = open_engine(config, layout, fsync=False)
    final.close()
    events = read_events(layout.journal_path)
    recovered = sum(1 for e in events if e["event"] == "reported" and e.get("recovered") == "manifest")
    return {"crashes": crashes, "results_in_flight": in_flight, "recovered": recovered,
            "lost": in_flight - recovered}


def fifo_swaps(root: Path, trials: int, seed: int, with_job_ids: bool, claims: bool,
               in_flight: bool = False) -> dict[str, int]:
    """(c): NNI 3.0's local service hands parameters FIFO to trials in the order they ask."""
    rng = random.Random(seed)
    layout = SearchLayout.for_experiment(root, f"fifo-{with_job_ids}-{claims}-{in_flight}")
    tuner = EngineProtocol.for_search(EvolutionConfig(population_size=4, seed=seed), layout, fsync=False)
    queue: list[tuple[int, dict[str, Any]]] = []  # parameters waiting for a trial to ask
    forms: list[int] = []  # parameter ids of submitted trial forms, in submission order
    truth: dict[str, int | None] = {}
    ends: list[str] = []
    next_pid = 0

    def send(parameter_id: int, params: dict[str, Any]) -> None:
        queue.append((parameter_id, params))
        forms.append(parameter_id)

    def request(count: int) -> None:
        nonlocal next_pid
        ids = list(range(next_pid, next_pid + count))
        next_pid += count
        for parameter_id, params in zip(ids, tuner.generate_multiple_parameters(ids, st_callback=send)):
            send(parameter_id, params)

    running: list[tuple[str, int, tuple[int, dict[str, Any]] | None]] = []
    request(4)
    for n in range(trials):
        while forms and len(running) < 4:
            form = forms.pop(0)
            job = f"J{n}-{form}"
            took = None if rng.random() < 0.1 or not queue else queue.pop(0)  # exits before asking
            if took is not None and claims:
                claim(took[1]["save_dir"], job)  # what trial/trial.py does on taking its parameters
            running.append((job, form, took))
        if not running:
            break
        job, form, took = running.pop(rng.randrange(len(running)))
        kw = {"trial_job_id": job} if with_job_ids else {}
        truth[job] = took[1]["indiv_id"] if took is not None else None
        fate = rng.random()  # < 0.2 fails before reporting, < 0.3 exits 1 after reporting
        success = took is not None and fate >= 0.3
        end_first = rng.random() < 0.2  # NNI's two threads: the end may be handled first
        value = {"default": rng.random(), "indiv_id": truth[job]} if took is not None and fate >= 0.2 else None
        if end_first:  # NNI queued the result before the end; the NNI adapter sees it queued (in_flight)
            tuner.trial_end(form, success, **kw, **({"result_in_flight": True} if in_flight and value else {}))
            ends.append(job)
        if value is not None and took is not None:
            tuner.receive_trial_result(took[0], took[1], value, **kw)
        if not end_first:
            tuner.trial_end(form, success, **kw)
            ends.append(job)
        request(1)
    stats = tuner.stats()
    statuses = {i.indiv_id: i.status for i in tuner.engine.individuals()}
    tuner.close()
    ended = [e for e in read_events(layout.journal_path) if e["event"] == "ended"]
    wrong = sum(1 for job, e in zip(ends, ended) if e["indiv_id"] != truth[job])
    failed = [e["indiv_id"] for e in read_events(layout.journal_path) if e["event"] == "failed"]
    ran = {v for v in truth.values() if v is not None}
    # failures journaled against an individual that a trial did run and report (undone by a late result)
    wrong_failures = sum(1 for i in failed if i in ran and statuses.get(i) is Status.REPORTED)
    return {"ends": len(ended), "misattributed_ends": wrong, "corrected_by_late_results": stats.corrected_ends,
            "reported": stats.reported, "wrong_failure_events": wrong_failures}


def print_cases(out: dict[str, Any]) -> None:
    """The figures of cases (e)-(i) (module docstring of :mod:`benchmarks.fault_cases`)."""
    if (u := out.get("unreadable")) is not None:
        print(f"unreadable parents (chmod 000, read as uid {u.get('reader_uid', '?')}): {u['parents']}; "
              + (f"skipped: {u['skipped']}" if "skipped" in u else
                 f"missing to the tuner {u['missing_to_the_tuner']}, lost on resume {u['lost_on_resume']}, "
                 f"child cold starts {u['child_cold_starts']}, crashes {u['crashes']}"))
    if (d := out.get("damaged")) is not None:
        print(f"damaged parent graphs/configs in the manifest: {d['cases']}, cold starts {d['cold_starts']}, "
              f"crashes {d['crashes']}")
    if (g := out.get("leftovers")) is not None:
        print(f"writes killed mid-write: {g['writes_killed']} in {g['trials']} trials; left after the trials' ends "
              f"{g['left_after_the_ends']}, after the next search start {g['left_after_next_start']}, once every "
              f"writer is gone {g['left_once_every_writer_is_gone']}; live writes kept: {g['live_writes_kept']}")
    if (i := out.get("inputs")) is not None:
        print(f"bad trial inputs: {i['one_line']} of {i['cases']} answered in one line, {i['tracebacks']} "
              f"tracebacks; GloVe 3 rows x 19 dims: {i['glove_3x19']}")
    if (r := out.get("retention")) is not None:
        print(f"retention keep 1: {r['trials']} real tiny trials ({r['killed_mid_publish']} killed mid-publish), "
              f"{r['reported']} reported, {r['pruned']} pruned, {r['children']} children "
              f"({r['children_warm_started']} warm-started), parents deleted while needed {r['parent_violations']}; "
              f"weight sets at most {r['max_weight_sets']} (bound {r['weight_set_bound']}: population + running "
              f"child's parent + top 1 + {r['pinned_by_uncertain_ends']} parents of killed children); bytes on disk at most "
              f"{r['max_bytes'] / 1e6:.2f} MB (weights at most {r['max_weight_bytes'] / 1e6:.2f} MB), at the end "
              f"{r['final_bytes'] / 1e6:.2f} MB; temp files at most "
              f"{r['max_temp_entries']} ({r['max_temp_bytes'] / 1e3:.0f} kB), at the end {r['final_temp_entries']}")


def main(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR)
    out: dict[str, Any] = {"args": vars(args)}
    with tempfile.TemporaryDirectory(prefix="ga-faults-") as tmp:
        root = Path(tmp)
        out["kills"] = kill_loop(root / "victim", kills=args.kills, size=2_000_000, seed=args.seed)
        out["crashes"] = crashes_with_results_in_flight(root, crashes=10, seed=args.seed)
        out["ends_by_form"] = fifo_swaps(root, args.trials, args.seed, with_job_ids=False, claims=False)
        out["ends_by_result"] = fifo_swaps(root, args.trials, args.seed, with_job_ids=True, claims=False)
        out["ends_by_job_no_wait"] = fifo_swaps(root, args.trials, args.seed, with_job_ids=True, claims=True)
        out["ends_by_job"] = fifo_swaps(root, args.trials, args.seed, with_job_ids=True, claims=True,
                                        in_flight=True)
        disk = {}
        for keep in ("all", 2):
            sim = simulate_search(root / "disk", keep=keep, trials=args.trials, size=args.size, seed=args.seed)
            checkpoints = sim["reported"] - sim["pruned"]
            disk[str(keep)] = {"bytes": sim["disk"], "reported": sim["reported"], "pruned": sim["pruned"],
                               "checkpoints_with_weights": checkpoints,
                               "violations": len(sim["violations"]),
                               "default_size_estimate_mb": round(checkpoints * DEFAULT_CHECKPOINT_BYTES / 1e6, 1)}
        out["disk"] = disk
        sections = {"unreadable": lambda: fault_cases.unreadable_parents(10),
                    "damaged": lambda: fault_cases.damaged_graphs(root),
                    "leftovers": lambda: fault_cases.leftovers(root / "leftovers", seed=args.seed),
                    "inputs": lambda: fault_cases.bad_inputs(root),
                    "retention": lambda: fault_cases.retention(root / "retention", trials=args.retention_trials,
                                                               seed=args.seed)}
        for name, run in sections.items():
            if args.skip is None or name not in args.skip:
                out[name] = run()
    k, c, f, r, j = out["kills"], out["crashes"], out["ends_by_form"], out["ends_by_result"], out["ends_by_job"]
    print(f"kills during publish: {k['kills']} survived ({k['mid_publish']} mid-publish), "
          f"torn {k['torn']}, invisible {k['invisible']}, leftovers after cleanup {k['leftovers']}")
    print(f"dispatcher crashes: {c['crashes']}, results in flight {c['results_in_flight']}, "
          f"recovered {c['recovered']}, lost {c['lost']}")
    print(f"misattributed ends ({f['ends']} ends, NNI FIFO swaps): by form (before) {f['misattributed_ends']}, "
          f"by job id + results {r['misattributed_ends']}, + claims (now) {j['misattributed_ends']}; "
          f"failures later undone by the real result {f['wrong_failure_events']} -> "
          f"{out['ends_by_job_no_wait']['wrong_failure_events']} (job ids + claims) -> {j['wrong_failure_events']} "
          f"(+ an end waits for a result NNI has queued: now)")
    for keep, d in disk.items():
        print(f"disk after {d['reported']} reported trials, keep={keep}: {d['bytes'] / 1e6:.2f} MB at "
              f"{args.size / 1e3:.0f} kB/checkpoint, {d['checkpoints_with_weights']} checkpoints with weights "
              f"(~{d['default_size_estimate_mb']} MB at 6.5 MB each), pruned {d['pruned']}, "
              f"parent-in-use violations {d['violations']}")
    print_cases(out)
    config = out.pop("args")
    write_result("faults", out, config, out_dir=args.out_dir)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=30)
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--size", type=int, default=100_000, help="bytes per fake checkpoint")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--retention-trials", type=int, default=24, help="real tiny trials of the retention run")
    parser.add_argument("--skip", nargs="*", choices=["unreadable", "damaged", "leftovers", "inputs", "retention"],
                        help="cases (e)-(i) to leave out")
    parser.add_argument("--out-dir", help="where faults.json goes (default results/)")
    sys.exit(main(parser.parse_args()))

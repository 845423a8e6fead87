"""Several machines: throughput on one vs two SSH workers, and the remote path's cost per trial.

Three real searches with the same tiny trials (``trial/trial.py --size tiny
--epochs 1``), each ``--trials`` long, on the stand-in workers of
``tests/remote/hosts.py`` (sshd in private namespaces on loopback addresses):

1. ``local``: NNI's local training service, concurrency 1 (the baseline trial).
2. ``remote-1``: NNI's remote training service (reuse mode) on one worker.
3. ``remote-2``: the same on two workers, concurrency 2.

Reported: trials per minute of each (trials / span from the first trial's
start to the last trial's end in NNI's records), the ratio remote-2 /
remote-1, and the remote path's overhead per trial: the mean NNI trial
duration and the mean idle gap between one trial's end and the next start on
a worker, remote-1 minus local. Both workers share this machine's cores, so
the ratio measures NNI's scheduling over SSH, not extra compute: on a
2-core machine two tiny TensorFlow trials at once already compete for CPU.

Usage (root, openssh-server installed)::

    .venv/bin/python benchmarks/remote.py [--trials 4] [--out-dir results]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]

from tests.remote.cluster import Cluster, cluster, create, remote_config  # noqa: E402
from tests.remote.hosts import unavailable_reason  # noqa: E402

from benchmarks.bench_json import write_result  # noqa: E402


def run_search(c: Cluster, base: Path, name: str, trials: int, hosts: int | None) -> dict[str, Any]:
    """One search to DONE; ``hosts=None`` runs it on NNI's local training service."""
    sub = Cluster(c.hosts[: hosts or 1], c.key, c.store)
    config = remote_config(sub, base / name, max_trials=trials, duration="20m")
    env = {"HOME": str(base / "home"),
           "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")}
    if hosts is None:
        config.pop("nniManagerIp")
        config["trainingService"] = {"platform": "local", "useActiveGpu": False}
        config["trialConcurrency"] = 1
    started = time.monotonic()
    experiment = create(config, env)
    try:
        status = experiment.wait(timeout=1800, poll=2.0)
        records = experiment.trials()
    finally:
        experiment.stop()
    wall = time.monotonic() - started
    done = [t for t in records if t.get("status") == "SUCCEEDED" and t.get("endTime")]
    starts = [t["startTime"] / 1000 for t in done]
    ends = [t["endTime"] / 1000 for t in done]
    durations = [e - s for s, e in zip(starts, ends)]
    span = max(ends) - min(starts)
    # idle time of a worker between a trial's end and the next trial's start (one worker, in order)
    order = sorted(zip(starts, ends))
    gaps = [max(0.0, b[0] - a[1]) for a, b in zip(order, order[1:])] if (hosts or 1) == 1 else []
    return {
        "status": status, "trials": len(done), "wall_s": round(wall, 1), "span_s": round(span, 1),
        "trials_per_minute": round(60 * len(done) / span, 3),
        "mean_trial_s": round(statistics.mean(durations), 2),
        "mean_gap_s": round(statistics.mean(gaps), 2) if gaps else None,
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--trials", type=int, default=4)
    p.add_argument("--out-dir", type=Path, default=None, help="folder of remote.json (default results/)")
    args = p.parse_args()
    reason = unavailable_reason()
    if reason is not None:
        print(f"error: {reason}", file=sys.stderr)
        return 2
    results: dict[str, Any] = {"trials_per_search": args.trials, "cpu_count": os.cpu_count(),
                               "load_avg_1m_at_start": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory(prefix="ga-squad-bench-remote-") as tmp:
        base = Path(tmp)
        with cluster(base, workers=2) as c:
            for name, hosts in (("local", None), ("remote-1", 1), ("remote-2", 2)):
                results[name] = run_search(c, base, name, args.trials, hosts)
                print(f"{name:9} {json.dumps(results[name])}", flush=True)
            leftovers = {h.spec.name: h.leftovers() for h in c.hosts}
    results["worker_leftovers_before_stop"] = leftovers
    results["ratio_two_vs_one_host"] = round(
        results["remote-2"]["trials_per_minute"] / results["remote-1"]["trials_per_minute"], 3)
    results["remote_overhead_per_trial_s"] = {
        "trial_duration": round(results["remote-1"]["mean_trial_s"] - results["local"]["mean_trial_s"], 2),
        "gap_between_trials": round((results["remote-1"]["mean_gap_s"] or 0) - (results["local"]["mean_gap_s"] or 0), 2),
    }
    path = write_result("remote", results, {"trials": args.trials, "workers": 2}, out_dir=args.out_dir)
    print(f"two hosts / one host: {results['ratio_two_vs_one_host']} x trials per minute; "
          f"remote overhead per trial: {results['remote_overhead_per_trial_s']} (s); written {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

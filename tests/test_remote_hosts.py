"""Several machines, really: a ga-squad search on NNI's remote training service over SSH.

Two stand-in worker machines (``tests/remote/hosts.py``): each an ``sshd``
on its own loopback address, in its own mount and UTS namespaces, with its own
host name, private ``/tmp``, ``/run`` and home (so NNI's code upload and
runner files exist on that worker only), and only the storage root shared,
bind-mounted at the same path (standing in for the NFS mount). Login is by a
key pair made for this test; no passwords anywhere.

The search is launched the way a user launches it, ``python -m ga_squad run
--config`` on ``config_remote.yml`` (remote platform, ``reuseMode: true``)
with the machine-specific values replaced and tiny real trials
(``trial/trial.py``). Checked from NNI's trial records and from the lineage
journal, not from logs: trials ran on both hosts, a child warm-started from a
parent's checkpoint written on the *other* host, every child was dispatched
after its parent reported, every dispatched individual ended, and no process
of the experiment or of either worker (nor so either namespace) survives.

Whether a child lands on the other host than its parent is NNI's scheduling,
not ours, so the search may run up to ``MAX_TRIALS``; as soon as a cross-host
warm start has been reported, ``nnictl update trialnum`` ends it cleanly
(usually after about six trials).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from pathlib import Path

import pytest

from ga_squad.launch.experiment import ExperimentError, experiment_processes
from ga_squad.reader.checkpoint import read_manifest
from ga_squad.search.evolution import Status
from ga_squad.store.journal import read_events, replay
from ga_squad.store.paths import SearchLayout
from remote.cluster import cluster, final_results, launch_with_run, remote_config, update_max_trials
from remote.hosts import pids_in_namespace, unavailable_reason

pytestmark = [pytest.mark.nni, pytest.mark.slow]

MAX_TRIALS = 12
TIMEOUT_S = 420.0


def cross_host_children(results: dict[int, dict]) -> list[int]:
    """Reported warm-started children whose parent reported from another host."""
    return [i for i, r in results.items()
            if r.get("warm_start") and r.get("parent_id") in results
            and results[r["parent_id"]]["host"] != r["host"]]


def journal_results(layout: SearchLayout) -> dict[int, dict]:
    """indiv_id -> the final result the trial reported, as the tuner journaled it."""
    if not layout.journal_path.exists():
        return {}
    return {i: dict(r.result) for i, r in replay(read_events(layout.journal_path)).items()
            if r.status is Status.REPORTED and r.result}


def test_search_runs_on_two_ssh_workers_and_warm_starts_across_them(tmp_path: Path) -> None:
    reason = unavailable_reason()
    if reason is not None:
        pytest.skip(reason)
    env = {"HOME": str(tmp_path / "home")}  # nnictl's registry stays in tmp
    with cluster(tmp_path) as c:
        names = {h.spec.name for h in c.hosts}
        namespaces = [(kind, ident) for h in c.hosts for kind, ident in h.namespaces.items()]
        # each worker sees the shared root, and its own /tmp only
        (c.store / "probe").write_text("shared\n")
        (Path("/tmp") / f"ga-squad-manager-only-{tmp_path.name}").write_text("x")
        for h in c.hosts:
            seen = h.ssh(c.key, f"hostname; cat {c.store}/probe; ls /tmp")
            assert seen.returncode == 0, seen.stderr
            lines = seen.stdout.split()
            assert lines[:2] == [h.spec.name, "shared"]
            assert f"ga-squad-manager-only-{tmp_path.name}" not in lines
        (Path("/tmp") / f"ga-squad-manager-only-{tmp_path.name}").unlink()

        config = remote_config(c, tmp_path / "nni", max_trials=MAX_TRIALS)
        search = launch_with_run(config, env)  # the main job, as a user starts it
        experiment = search.experiment
        layout = SearchLayout.for_experiment(c.store, experiment.id)
        trials: list[dict] = []
        try:
            # `run` waits for the experiment and stops it at the end; meanwhile watch the journal
            # (on the shared root) and keep NNI's latest trial records while NNI still answers.
            deadline = time.monotonic() + TIMEOUT_S
            shrunk = False
            while search.process.poll() is None:
                assert time.monotonic() < deadline, f"run still going after {TIMEOUT_S} s"
                with contextlib.suppress(ExperimentError):
                    trials = experiment.trials()
                if not shrunk and trials and cross_host_children(journal_results(layout)):
                    with contextlib.suppress(subprocess.CalledProcessError):
                        update_max_trials(experiment, len(trials))  # running ones finish, none start
                        shrunk = True
                time.sleep(1.0)
            assert search.finish(timeout=120) == 0, "".join(search.output)
            assert "lineage journal:" in "".join(search.output)  # run ranked the search
        finally:
            if search.process.poll() is None:
                search.process.kill()  # by pid: only the run this test started
                search.process.wait()
            experiment.stop()
        assert experiment_processes(experiment.id, tmp_path / "nni" / experiment.id) == []
        # NNI stopped its runners and trials on the workers: only each sshd is left there
        deadline = time.monotonic() + 15
        while any(h.leftovers() != [h.pid] for h in c.hosts) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert [h.leftovers() for h in c.hosts] == [[h.pid] for h in c.hosts]

    # --- every process and namespace the test started is gone ---------------------------
    assert all(pids_in_namespace(kind, ident) == [] for kind, ident in namespaces)

    # --- where each individual ran (the trial reports its host in its final result) ------------
    results = journal_results(layout)
    assert {r["host"] for r in results.values()} == names  # trials ran on both hosts
    crossed = cross_host_children(results)
    assert crossed, {i: (r["parent_id"], r["host"]) for i, r in results.items()}

    # --- the journal's view: complete, and every parent reported before its child --------------
    records = replay(read_events(layout.journal_path))
    dispatched = {i: r for i, r in records.items() if r.dispatched_at is not None}
    assert set(results) <= set(dispatched)  # nothing reported that was not dispatched
    # Shrinking maxTrialNumber mid-run races NNI asking for the next trial's parameters: what it had
    # asked for but may no longer start stays dispatched and unreported (at most one per free slot),
    # never published a checkpoint and is nobody's parent. Without the shrink, every one ran and ended.
    unstarted = set(dispatched) - set(results)
    assert not unstarted or (shrunk and len(unstarted) <= len(names)), unstarted
    for i in unstarted:
        assert records[i].status is not Status.REPORTED and not any(r.parent_id == i for r in records.values())
        assert not any(Path(records[i].save_dir).rglob("manifest.json")), records[i].save_dir
    assert all(dispatched[i].status is Status.REPORTED and dispatched[i].reported_at is not None for i in results)
    for record in (dispatched[i] for i in results):
        if record.parent_id is not None:
            parent = records[record.parent_id]
            assert parent.reported_at is not None and parent.reported_at <= record.dispatched_at

    # --- NNI's view agrees, for every trial NNI still listed before `run` stopped it ------------
    nni_results = final_results(trials)
    assert nni_results and set(nni_results) <= set(results)
    assert all(t["status"] == "SUCCEEDED" for t in trials if t.get("finalMetricData")), trials
    for indiv_id, value in nni_results.items():
        assert value["host"] == results[indiv_id]["host"]
        parent_id = value.get("parent_id")
        if parent_id in nni_results:  # NNI's clock: the child started after the parent's final result
            parent_metric = nni_results[parent_id]["_trial"]["finalMetricData"][0]
            assert value["_trial"]["startTime"] >= parent_metric["timestamp"]
    for child in crossed:
        record, parent = records[child], records[records[child].parent_id]
        manifest = read_manifest(record.save_dir)
        assert record.restore_dir == parent.save_dir
        assert manifest["parent_id"] == parent.indiv_id and manifest["metrics"]["warm_start"] is True
        loaded = set(manifest["warm_start"]["loaded_ids"])
        # weights the other host wrote into the shared root were loaded here
        assert loaded and loaded <= set(read_manifest(parent.save_dir)["param_counts"])

"""Faults on the storage side: killed publishes, leftovers, pruning, the experiment lock.

Real processes are killed with SIGKILL (no patched exceptions): a publisher
looping on one individual is killed at random instants and a reader must
always find a complete checkpoint; a tuner-like process holding the
experiment lock is killed and the lock must be free again.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ga_squad.store import checkpoint_store as store
from ga_squad.store.lock import ExperimentLock, ExperimentLocked
from ga_squad.store.ownership import Owner, this_host

from tests.fixtures.fake_checkpoint import check, kill_loop, publish_fake


def dead_pid() -> int:
    proc = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    return int(proc.stdout)


def test_republish_is_never_invisible_and_every_intermediate_state_resolves(tmp_path: Path) -> None:
    save = tmp_path / "000001"
    publish_fake(save, 1, {"default": 1.0}, 1000, seed=1)
    first = store.resolve(save)
    publish_fake(save, 1, {"default": 2.0}, 1000, seed=2)
    assert store.read_manifest_json(save)["metrics"]["default"] == 2.0
    assert first is not None and not first.exists()  # superseded version removed
    # a kill after the new version was renamed but before the pointer moved: the old one stays visible
    current = store.resolve(save)
    assert current is not None
    newer = save / f".checkpoint.v000009-{Owner(this_host(), dead_pid(), 0, 'aa').token()}"
    os.rename(current, newer)  # now the pointer dangles: the window the old design had
    assert store.resolve(save) == newer and check(save) is None
    assert store.read_manifest_json(save)["metrics"]["default"] == 2.0
    store.cleanup(save)  # repairs the pointer to the newest complete version
    assert (save / "checkpoint").resolve() == newer.resolve()
    # a plain directory (a copy of the search that followed the symlink) is replaced without a gap
    plain = tmp_path / "plain"
    (plain / "checkpoint").mkdir(parents=True)
    (plain / "checkpoint" / "manifest.json").write_text(json.dumps({"indiv_id": 3, "metrics": {"default": 0.1}}))
    assert store.published_metrics(plain, 3) == {"default": 0.1}
    publish_fake(plain, 3, {"default": 0.2}, 10)
    assert store.published_metrics(plain, 3) == {"default": 0.2}


def test_leftovers_are_removed_by_ownership_not_age(tmp_path: Path) -> None:
    save = tmp_path / "000002"
    publish_fake(save, 2, {"default": 1.0}, 100)
    old = time.time() - 100_000
    owners = {
        "dead_here": Owner(this_host(), dead_pid(), int(old), "01"),
        "alive_here": Owner(this_host(), os.getpid(), int(old), "02"),  # hours old, still publishing
        "other_expired": Owner("elsewhere", 1, int(old), "03"),
        "other_leased": Owner("elsewhere", 1, int(time.time() + 3600), "04"),
    }
    for name, owner in owners.items():
        folder = save / f".checkpoint.tmp-{owner.token()}"
        folder.mkdir()
        (folder / "weights.h5").write_bytes(b"half")
        os.utime(folder, (old, old))
    removed = store.cleanup(save)
    left = {n for n, o in owners.items() if (save / f".checkpoint.tmp-{o.token()}").exists()}
    assert left == {"alive_here", "other_leased"}
    assert len(removed) == 2
    assert check(save) is None


def test_prune_keeps_the_manifest_and_frees_the_weights(tmp_path: Path) -> None:
    save = tmp_path / "000003"
    publish_fake(save, 3, {"default": 0.5, "f1": 0.5}, 50_000)
    freed = store.prune(save, reason="test")
    assert freed == 50_000
    assert store.published_metrics(save, 3) == {"default": 0.5, "f1": 0.5}
    assert check(save) is not None  # weights gone: a reader is told, never handed a torn file
    assert store.disk_usage(save) < 1_000


@pytest.mark.slow
def test_kill_9_during_publish_never_tears_or_hides_a_checkpoint(tmp_path: Path) -> None:
    figures = kill_loop(tmp_path / "victim", kills=12, size=2_000_000, seed=3)
    assert (figures["torn"], figures["invisible"], figures["leftovers"]) == (0, 0, 0)
    assert figures["mid_publish"] >= 3  # the kills did land inside publishes (else the test proves nothing)


def test_lock_refuses_a_second_holder_and_names_the_first(tmp_path: Path) -> None:
    with ExperimentLock(tmp_path / "exp"):
        with pytest.raises(ExperimentLocked, match=f"pid {os.getpid()}"):
            ExperimentLock(tmp_path / "exp").acquire()
    ExperimentLock(tmp_path / "exp").acquire().release()  # released: free again


def test_lock_of_a_killed_holder_is_stale(tmp_path: Path) -> None:
    code = ("import sys, time; from ga_squad.store.lock import ExperimentLock; "
            "lock = ExperimentLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(60)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "exp")],
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        with pytest.raises(ExperimentLocked, match=f"pid {holder.pid}"):
            ExperimentLock(tmp_path / "exp").acquire()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()
    ExperimentLock(tmp_path / "exp").acquire().release()

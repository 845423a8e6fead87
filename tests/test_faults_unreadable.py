"""A parent checkpoint its reader may not read (``chmod 000``): a cold start and a failed individual, never a crash.

``chmod`` does not stop root, so the readers run in a real child process as
an unprivileged user (``nobody``; the test skips, saying why, where that is
impossible). The child resolves the checkpoint, reads its metrics, resumes
the search (the tuner's resume recovery), ends a trial whose checkpoint is
unreadable (the end recovery), and reads the parent for a warm start (the
trial's path, which must give ``CheckpointCorrupt``, i.e. a cold start).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.paths import SearchLayout
from ga_squad.store.protocol import open_engine
from tests.fixtures.fake_checkpoint import publish_fake

REPO = Path(__file__).resolve().parents[1]
CONFIG = EvolutionConfig(population_size=3, seed=1)

CHILD = r"""
import json, os, sys
from ga_squad.store import checkpoint_store as store
from ga_squad.search.evolution import EvolutionConfig
from ga_squad.store.paths import SearchLayout
from ga_squad.store.protocol import open_engine
from tests.fixtures.fake_checkpoint import publish_fake

root, with_reader = sys.argv[1], sys.argv[2] == "1"
lay = SearchLayout.for_experiment(root, "exp")
version = store.versions(lay.individual_dir(0))  # individual 0 is readable: its version is listed
hidden = [p for p in lay.individual_dir(1).iterdir() if p.name.startswith(".checkpoint.v")][0]
out = {"uid": os.getuid(), "can_read": os.access(hidden, os.R_OK)}
if out["can_read"]:
    print(json.dumps(out)); sys.exit(0)
out["resolve"] = str(store.resolve(lay.individual_dir(1)))
out["metrics"] = store.published_metrics(lay.individual_dir(1), 1)
engine = open_engine(EvolutionConfig(population_size=3, seed=1), lay, fsync=False)  # resume recovery
out["after_resume"] = engine.individual(1).status.name
(pid, params), = engine.request([10])
publish_fake(params["save_dir"], params["indiv_id"], {"default": 0.7, "indiv_id": params["indiv_id"]}, 100)
for entry in os.listdir(params["save_dir"]):
    if entry.startswith(".checkpoint.v"):
        os.chmod(os.path.join(params["save_dir"], entry), 0)
engine.end(pid, True)  # end recovery: the published result cannot be read
out["after_end"] = engine.individual(params["indiv_id"]).status.name
engine.close()
if with_reader:  # the child trial's read of its parent (TensorFlow: a few seconds)
    from ga_squad.reader.checkpoint import CheckpointCorrupt, read_checkpoint_state
    try:
        read_checkpoint_state(lay.individual_dir(1))
        out["reader"] = "read"
    except CheckpointCorrupt as exc:
        out["reader"] = "cold start: " + str(exc)
print(json.dumps(out))
"""


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A folder another user can reach (pytest's tmp_path is private to its owner)."""
    folder = Path(tempfile.mkdtemp(prefix="ga-unreadable-"))
    folder.chmod(0o755)
    try:
        yield folder
    finally:
        for path, dirs, _ in os.walk(folder):
            for name in dirs:
                os.chmod(os.path.join(path, name), 0o755)
        shutil.rmtree(folder, ignore_errors=True)


def run_unprivileged(args: list[str], home: Path) -> subprocess.CompletedProcess[str]:
    """Run ``args`` as this user if not root, else as ``nobody``; skip if privileges cannot be dropped."""
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONDONTWRITEBYTECODE": "1", "HOME": str(home),
           "KERAS_HOME": str(home / ".keras"), "TF_CPP_MIN_LOG_LEVEL": "3"}
    if os.geteuid() != 0:
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
    try:
        user = pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("running as root and there is no user 'nobody' to drop privileges to")
    tries: list[str] = []
    setpriv = shutil.which("setpriv")
    if setpriv is not None:  # exec's path checks run after the switch too: works where user= cannot reach python
        done = subprocess.run([setpriv, f"--reuid={user.pw_uid}", f"--regid={user.pw_gid}", "--clear-groups",
                               *args], capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
        if done.returncode not in (126, 127) and "setpriv:" not in done.stderr:
            return done
        tries.append(f"setpriv: {done.stderr.strip()[:200]}")
    try:
        return subprocess.run(args, capture_output=True, text=True, env=env, cwd=REPO, timeout=300,
                              user=user.pw_uid, group=user.pw_gid, extra_groups=[])
    except OSError as exc:
        tries.append(f"subprocess user=nobody: {exc}")
    pytest.skip(f"cannot drop privileges to run an unprivileged reader ({'; '.join(tries)})")


def chown_tree(root: Path, uid: int, gid: int) -> None:
    for path, dirs, files in os.walk(root):
        os.chown(path, uid, gid)
        for name in dirs + files:
            os.chown(os.path.join(path, name), uid, gid, follow_symlinks=False)


@pytest.mark.parametrize("with_reader", [False, True], ids=["tuner", "tuner-and-trial"])
def test_an_unreadable_checkpoint_is_missing_to_the_tuner_and_a_cold_start_to_the_child(
        shared_tmp: Path, with_reader: bool) -> None:
    lay = SearchLayout.for_experiment(shared_tmp / "store", "exp")
    engine = open_engine(CONFIG, lay, fsync=False)
    ready = engine.request([0, 1])
    for pid, params in ready:  # 0 reports; 1 publishes, then the dispatcher dies with its result in flight
        publish_fake(params["save_dir"], params["indiv_id"], {"default": 0.5, "indiv_id": params["indiv_id"]}, 100)
    engine.report(0, {"default": 0.5, "indiv_id": 0})
    engine.close()
    home = shared_tmp / "home"
    home.mkdir()
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody") if "nobody" in {p.pw_name for p in pwd.getpwall()} else None
        if nobody is not None:
            chown_tree(shared_tmp, nobody.pw_uid, nobody.pw_gid)
    hidden = [p for p in lay.individual_dir(1).iterdir() if p.name.startswith(".checkpoint.v")]
    assert len(hidden) == 1
    hidden[0].chmod(0)
    done = run_unprivileged([sys.executable, "-c", CHILD, str(shared_tmp / "store"), str(int(with_reader))], home)
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    if out["can_read"]:
        pytest.skip(f"uid {out['uid']} reads a chmod-000 folder (it keeps CAP_DAC_OVERRIDE)")
    assert out["resolve"] == "None" and out["metrics"] is None
    assert out["after_resume"] == "FAILED"  # lost_on_resume: its result cannot be read
    assert out["after_end"] == "FAILED"
    if with_reader:
        assert out["reader"].startswith("cold start: ")
    assert "Traceback" not in done.stderr
    assert "unreadable" in done.stderr  # the WARNING says why the checkpoint counts as missing

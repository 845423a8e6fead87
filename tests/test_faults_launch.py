"""Starting NNI: a held experiment is refused with its holder's name, a slow tuner's resume is retried,
and the web UI / REST API listen on loopback only.

Real processes throughout: a process holding the experiment lock, NNI's own
Node binary with the preload ``run`` gives NNI's manager, and one real NNI
experiment whose tuner misses NNI's fixed 10 s deadline on its first resume.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import nni_node
import psutil
import pytest
import yaml

from ga_squad.launch.bind import BIND_ENV, manager_env
from ga_squad.launch.experiment import Experiment, ExperimentSpec
from ga_squad.launch.tuner_start import resume_retrying, tuner_error
from ga_squad.store.journal import read_events
from ga_squad.store.paths import SearchLayout

REPO = Path(__file__).resolve().parents[1]
NODE = Path(nni_node.__file__).resolve().parent / "node"


def hold_lock(folder: Path) -> subprocess.Popen[str]:
    code = ("import sys, time; from ga_squad.store.lock import ExperimentLock; "
            "lock = ExperimentLock(sys.argv[1]).acquire(); print('held', flush=True); time.sleep(120)")
    holder = subprocess.Popen([sys.executable, "-c", code, str(folder)], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_run_names_the_holder_of_the_experiment_before_starting_nni(tmp_path: Path, capsys) -> None:
    from ga_squad.cli.run import cli

    config = yaml.safe_load((REPO / "config.yml").read_text(encoding="utf-8"))
    config["tuner"]["classArgs"]["save_dir_root"] = str(tmp_path / "store")
    config["experimentWorkingDirectory"] = str(tmp_path / "nni")
    config["trialCodeDirectory"] = config["tuner"]["codeDirectory"] = str(REPO)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    holder = hold_lock(tmp_path / "store" / "abcd1234")
    try:
        started = time.monotonic()
        code = cli(["--config", str(path), "--resume", "abcd1234", "--no-baseline"])
        err = capsys.readouterr().err
        assert code == 1 and time.monotonic() - started < 30  # refused at once, NNI never started
        assert f"pid {holder.pid}" in err and "already used by a tuner" in err and "did not connect" not in err
        assert not (tmp_path / "nni" / "abcd1234").exists()
    finally:
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait()


def test_a_tuner_that_fails_to_build_is_told_from_a_slow_one(tmp_path: Path) -> None:
    """NNI says "did not connect" for both; the dispatcher's own traceback (a real one here) tells them apart."""
    params = {"tuner": {"className": "tuner.ga_tuner.GaSquadTuner", "codeDirectory": str(REPO),
                        "classArgs": {"save_dir_root": str(tmp_path), "population_size": 0}}}
    done = subprocess.run([sys.executable, "-m", "nni", "--exp_params",
                           base64.b64encode(json.dumps(params).encode()).decode()],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert done.returncode != 0
    assert tuner_error(done.stderr) == "ga_squad.store.settings.ClassArgsError: population_size: must be an integer >= 1"
    late = ("INFO Dispatcher started\nTraceback (most recent call last):\n  File \"x.py\", line 1, in run\n"
            "websockets.exceptions.ConnectionClosedError: no close frame received or sent\n")
    assert tuner_error(late) is None  # a slow tuner that connected after NNI gave up: retried, not reported


def listen_address(env: dict[str, str]) -> str:
    """Where NNI's Node binary listens for ``server.listen(0)`` (express's ``app.listen(port)``) under ``env``."""
    script = ("const s = require('http').createServer(); "
              "s.listen(0, () => { console.log(s.address().address); s.close(); });")
    done = subprocess.run([str(NODE), "-e", script], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **env})
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_nni_manager_node_listens_on_loopback_unless_opened(tmp_path: Path) -> None:
    assert listen_address({}) in ("::", "0.0.0.0")  # NNI's default: every interface
    assert listen_address(manager_env({"local"}, tmp_path, {})) == "127.0.0.1"
    assert listen_address(manager_env({"local"}, tmp_path, {BIND_ENV: "all"})) in ("::", "0.0.0.0")
    assert manager_env({"remote"}, tmp_path, {}) == {}  # workers report back to nniManagerIp: leave it open
    kept = manager_env({"local"}, tmp_path, {"NODE_OPTIONS": "--max-old-space-size=4096"})
    assert kept["NODE_OPTIONS"].startswith("--max-old-space-size=4096 --require ")


def listening(port: int) -> set[str]:
    return {c.laddr.ip for c in psutil.net_connections(kind="tcp")
            if c.status == psutil.CONN_LISTEN and c.laddr.port == port}


@pytest.mark.nni
@pytest.mark.slow
def test_a_resume_whose_tuner_misses_the_deadline_is_retried(tmp_path: Path, experiments: list[Experiment]) -> None:
    marker = tmp_path / "slow-once"
    spec = ExperimentSpec(
        trial_command=f"{sys.executable} publishing_trial.py",
        trial_code_directory=REPO / "tests" / "fixtures",
        tuner_code_directory=REPO,
        tuner_class_name="tests.fixtures.slow_tuner.SlowOnceTuner",
        tuner_class_args={"save_dir_root": str(tmp_path / "store"), "population_size": 2, "min_layers": 1,
                          "max_layers": 6, "seed": 5},
        working_directory=tmp_path / "nni",
        trial_concurrency=2,
        max_trial_number=6,
        max_experiment_duration="5m",
        env={"HOME": str(tmp_path / "home"), "GA_SQUAD_SLOW_TUNER_ONCE": str(marker),
             "PYTHONPATH": str(REPO)},
    )
    first = Experiment.create(spec)
    experiments.append(first)
    assert listening(first.port) == {"127.0.0.1"}  # the web UI / REST API: loopback only
    deadline = time.monotonic() + 120
    while sum(t["status"] == "SUCCEEDED" for t in first.trials()) < 2 and time.monotonic() < deadline:
        time.sleep(0.5)
    first.stop()
    experiments.remove(first)  # stopped; the resumed sessions below run under the same id
    marker.write_text("slow")  # the next tuner start takes 15 s: past NNI's 10 s
    said: list[str] = []
    second = resume_retrying(spec, first.id, say=said.append, attempts=5)  # a loaded machine may miss again
    experiments.append(second)
    assert said and "missed NNI's fixed 10 s connect deadline" in said[0] and "attempt 2 of 5" in said[0]
    assert not marker.exists()
    assert second.wait(timeout=180, poll=1.0) == "DONE"
    second.stop()
    events = read_events(SearchLayout.for_experiment(tmp_path / "store", first.id).journal_path)
    # the missed start never built its engine (it slept first); a retried one resumed the journal and went on
    assert [e for e in events if e["event"] == "reported" and e["session"] >= 1] != []

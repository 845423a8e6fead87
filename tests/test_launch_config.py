"""``python -m ga_squad run`` submits the user's NNI config: fidelity, overrides and one-line errors.

No NNI experiment is started here: ``--print-config`` shows what would be
submitted, bad input is refused before anything launches, and the Ctrl-C and
wait paths run against a stand-in experiment.
"""

from __future__ import annotations

import dataclasses

import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from ga_squad.cli import run
from ga_squad.launch.config import ConfigError, load_launch_config
from ga_squad.launch.experiment import ExperimentSpec
from ga_squad.launch.processes import end_processes, experiment_processes
from ga_squad.store.settings import ClassArgsError, TunerSettings, settings_table, validate_class_args

REPO = Path(__file__).resolve().parents[1]
SHIPPED = ("config.yml", "config_full.yml", "config_remote.yml")
# The only keys `run` may change, and how (see ga_squad/launch/config.py).
PATH_KEYS = {"trialCodeDirectory", "experimentWorkingDirectory", "tuner.codeDirectory"}


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with the SSH key config_remote.yml names, and an nvidia-smi that lists one GPU."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "ga_squad").write_text("not a real key")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    fake = bin_dir / "nvidia-smi"
    fake.write_text("#!/bin/sh\necho 'GPU 0: Fake GPU (UUID: GPU-0)'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def no_gpu(bin_dir: Path) -> None:
    (bin_dir / "nvidia-smi").write_text("#!/bin/sh\necho 'No devices were found'\nexit 6\n")


def print_config(capsys: pytest.CaptureFixture[str], config: Path) -> tuple[dict[str, Any], dict[str, str]]:
    """The YAML `run --print-config` prints, and its override lines by key."""
    assert run.cli(["--config", str(config), "--print-config"]) == 0
    captured = capsys.readouterr()
    overrides = {}
    for line in captured.err.splitlines():
        assert line.startswith("override "), captured.err
        key, change = line[len("override "):].split(": ", 1)
        overrides[key] = change
    return yaml.safe_load(captured.out), overrides


def flatten(node: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(node, dict) and node:
        return {k: v for key, value in node.items() for k, v in flatten(value, f"{prefix}{key}.").items()}
    if isinstance(node, list) and node and all(isinstance(item, dict) for item in node):
        return {k: v for i, item in enumerate(node) for k, v in flatten(item, f"{prefix}{i}.").items()}
    return {prefix.rstrip("."): node}


def expected_override(key: str, old: Any, base: Path) -> Any:
    """What the documented override of ``key`` turns ``old`` into (computed here independently)."""
    if key in PATH_KEYS:
        return str(Path(os.path.realpath(base / old)))
    if key == "tuner.classArgs.save_dir_root":
        return str(REPO / old)
    if key == "trialCommand":
        first, rest = old.split(" ", 1)
        assert first in {"python", "python3"}
        return f"{sys.executable} {rest}"
    raise AssertionError(f"{key} is not a documented override")


def assert_faithful(source: Path, printed: dict[str, Any], overrides: dict[str, str]) -> None:
    loaded = flatten(yaml.safe_load(source.read_text()))
    submitted = flatten(printed)
    for key, value in loaded.items():
        if key in overrides:
            assert submitted[key] == expected_override(key, value, source.parent), key
            shown = value.split(" ", 1)[0] if key == "trialCommand" else value  # the interpreter only
            assert overrides[key].startswith(f"{shown} -> "), overrides[key]
        else:
            assert submitted[key] == value, f"{source.name}: {key} changed"
    added = set(submitted) - set(loaded)
    assert added <= {"experimentWorkingDirectory"}, added  # only NNI's default made explicit
    assert set(overrides) - set(loaded) == added


@pytest.mark.parametrize("name", SHIPPED)
def test_print_config_keeps_every_key_of_shipped_configs(name: str, machine: Path,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    printed, overrides = print_config(capsys, REPO / name)
    assert_faithful(REPO / name, printed, overrides)
    if name == "config_remote.yml":  # remote: the workers' python and paths stay as written
        assert "trialCommand" not in overrides
        assert printed["trainingService"]["machineList"][0]["sshKeyFile"] == "~/.ssh/ga_squad"
        assert printed["tuner"]["classArgs"]["save_dir_root"] == "/mnt/ga-squad"  # already absolute: kept
    else:
        assert set(overrides) >= {"trialCommand", "tuner.classArgs.save_dir_root", "experimentWorkingDirectory"}


def test_every_nni_key_survives(tmp_path: Path, machine: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load((REPO / "config.yml").read_text())
    del config["experimentWorkingDirectory"]  # NNI's default must be made explicit, not replaced by ours
    config.update(trialGpuNumber=1, maxTrialDuration="2h", logLevel="debug",
                  assessor={"name": "Medianstop", "classArgs": {"optimize_mode": "maximize", "start_step": 2}})
    config["trialCodeDirectory"] = str(REPO)
    config["tuner"]["codeDirectory"] = str(REPO)
    config["trainingService"] = {"platform": "local", "useActiveGpu": True, "maxTrialNumberPerGpu": 2,
                                 "gpuIndices": "0"}
    path = tmp_path / "rich.yml"
    path.write_text(yaml.safe_dump(config))
    printed, overrides = print_config(capsys, path)
    assert_faithful(path, printed, overrides)
    assert printed["experimentWorkingDirectory"] == os.path.realpath(Path(os.environ["HOME"]) / "nni-experiments")
    for key in ("trialGpuNumber", "maxTrialDuration", "logLevel", "assessor"):
        assert printed[key] == config[key]
    assert printed["trainingService"] == config["trainingService"]


def test_launch_config_reads_duration_and_storage(machine: Path, tmp_path: Path) -> None:
    launch = load_launch_config(REPO / "config.yml")
    assert launch.max_duration_s == 90 * 60  # config.yml: maxExperimentDuration: 90m
    assert launch.storage_root == REPO / "runs" and launch.max_trial_number == 12
    written = launch.write_config(tmp_path / "submitted.yml").read_text()
    assert written == launch.to_yaml()
    config = yaml.safe_load((REPO / "config.yml").read_text())
    del config["maxExperimentDuration"]
    config["trialCodeDirectory"] = str(REPO)  # a copy outside the repository must name the code
    path = tmp_path / "c.yml"
    path.write_text(yaml.safe_dump(config))
    assert load_launch_config(path).max_duration_s is None


# --- bad input: one line, exit code 2, no traceback ------------------------------------
def write_config(tmp_path: Path, change: Any) -> Path:
    config = yaml.safe_load((REPO / "config.yml").read_text())
    change(config)
    path = tmp_path / "config.yml"
    path.write_text(yaml.safe_dump(config))
    return path


BAD = {
    "unknown key": (lambda c: c.update(maxTrials=3), "maxTrials"),
    "unknown platform field": (lambda c: c["trainingService"].update(gpuCount=1), "gpuCount"),
    "unknown platform": (lambda c: c["trainingService"].update(platform="cloud"), "platform 'cloud'"),
    "no platform": (lambda c: c.pop("trainingService"), "trainingService.platform"),
    "bare NNI assert": (lambda c: c.update(trialConcurrency=0), "trial_concurrency"),
    "wrong type": (lambda c: c.update(maxTrialNumber="many"), "max_trial_number"),
    "population 0": (lambda c: c["tuner"]["classArgs"].update(population_size=0),
                     "tuner classArgs population_size: must be an integer >= 1 (config.yml)"),
    "unknown classArg": (lambda c: c["tuner"]["classArgs"].update(populaton_size=3), "populaton_size: unknown key"),
    "layers": (lambda c: c["tuner"]["classArgs"].update(min_layers=5, max_layers=3), "max_layers"),
    "control without siblings": (lambda c: c["tuner"]["classArgs"].update(control=True),
                                 "control: needs siblings >= 2"),
    "gpu without gpu": (lambda c: c.update(trialGpuNumber=1) or c["trainingService"].update(useActiveGpu=False),
                        "trialGpuNumber is 1 but this machine has no GPU"),
    "copied out of the repository": (lambda c: None, "trialCommand runs trial/trial.py, which is not in "
                                     "trialCodeDirectory"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_config_gets_one_line(case: str, tmp_path: Path, machine: Path,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    no_gpu(machine)
    change, needle = BAD[case]
    assert run.cli(["--config", str(write_config(tmp_path, change)), "--print-config"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and captured.err.startswith("error: "), captured.err
    assert needle in captured.err


def test_invalid_yaml_and_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("trialCommand: [unclosed\n")
    assert run.cli(["--config", str(bad)]) == 2
    assert run.cli(["--config", str(tmp_path / "missing.yml")]) == 2
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2
    assert "bad.yml is not valid YAML (line 2" in lines[0]
    assert "missing.yml does not exist" in lines[1]


def test_busy_port_refused_before_launch(machine: Path, capsys: pytest.CaptureFixture[str],
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(run.Experiment, "create", lambda *a, **k: pytest.fail("launched on a busy port"))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert run.cli(["--port", str(port)]) == 2
    err = capsys.readouterr().err.splitlines()[-1]
    assert err == (f"error: --port {port} is busy (another NNI experiment or program listens there); "
                   "pick another port or omit --port to get a free one")


def test_debug_log_level_keeps_the_traceback(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        run.cli(["--config", str(tmp_path / "missing.yml"), "--log-level", "debug"])


# --- the wait and Ctrl-C, against a stand-in experiment --------------------------------
class FakeExperiment:
    def __init__(self, interrupt: bool) -> None:
        self.id, self.port, self.interrupt = "abc123", 8123, interrupt
        self.waited: list[float | None] = []
        self.stops = 0

    def wait(self, timeout: float | None, **kwargs: Any) -> str:
        self.waited.append(timeout)
        if self.interrupt:
            raise KeyboardInterrupt
        return "DONE"

    def stop(self) -> None:
        self.stops += 1


@pytest.mark.parametrize("argv, expected", [([], 5400.0), (["--timeout", "7"], 7.0)])
def test_default_wait_is_max_experiment_duration(argv: list[str], expected: float, machine: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeExperiment(interrupt=False)
    monkeypatch.setattr(run.Experiment, "create", lambda *a, **k: fake)
    run.cli(argv)
    assert fake.waited == [expected] and fake.stops >= 1


def test_ctrl_c_stops_and_says_how_to_resume(machine: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeExperiment(interrupt=True)
    monkeypatch.setattr(run.Experiment, "create", lambda *a, **k: fake)
    assert run.cli([]) == 130
    err = capsys.readouterr().err
    assert fake.stops >= 1 and "Traceback" not in err
    assert f"--resume {fake.id}" in err
    assert f"nnictl resume {fake.id} --experiment_dir {REPO / 'runs' / 'nni'}" in err
    assert f"nnictl view {fake.id} --experiment_dir {REPO / 'runs' / 'nni'} --port {fake.port}" in err


# --- the tuner's classArgs validator ---------------------------------------------------------
def test_the_settings_are_one_dataclass_the_tuner_nni_and_the_docs_read(tmp_path: Path) -> None:
    from tuner.class_args import GaSquadClassArgsValidator
    from tuner.ga_tuner import GaSquadTuner

    settings = TunerSettings.from_class_args({"save_dir_root": str(tmp_path), "population_size": 3,
                                              "experiment_id": "x"})
    assert settings.evolution().population_size == 3 and settings.evolution().tournament_size == 8  # its default
    tuner = GaSquadTuner(save_dir_root=str(tmp_path), population_size=3, experiment_id="x")
    try:
        assert tuner.settings == settings and tuner.config == settings.evolution()
    finally:
        tuner.engine.close()
    with pytest.raises(ClassArgsError, match="tournament_size: must be an integer >= 1"):
        GaSquadClassArgsValidator().validate_class_args(save_dir_root="runs", tournament_size=0)
    table = settings_table()
    assert "| `population_size` | `32` |" in table and "| `save_dir_root` | required |" in table
    assert "fsync" not in table and table.count("\n") == len(dataclasses.fields(TunerSettings)) + 2


def test_validator_accepts_shipped_args_and_names_bad_ones() -> None:
    for name in SHIPPED:
        validate_class_args(yaml.safe_load((REPO / name).read_text())["tuner"]["classArgs"])
    for bad, message in [({"population_size": True}, "population_size"), ({"optimize_mode": "max"}, "optimize_mode"),
                         ({"seed": -1}, "seed"), ({"aging": "yes"}, "aging"), ({"fitness": ""}, "fitness")]:
        with pytest.raises(ClassArgsError, match=message):
            validate_class_args({"save_dir_root": "runs", **bad})
    with pytest.raises(ClassArgsError, match="save_dir_root: required"):
        validate_class_args({})


def test_tuner_refuses_bad_class_args(tmp_path: Path) -> None:
    from tuner.ga_tuner import GaSquadTuner

    with pytest.raises(ClassArgsError, match="population_size"):
        GaSquadTuner(save_dir_root=str(tmp_path), population_size=0)
    assert not any(tmp_path.iterdir())  # refused before writing anything


def test_tuner_import_stays_light() -> None:
    code = "import sys, tuner.ga_tuner; assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True, timeout=60)


# --- process matching and the programmatic spec ---------------------------------------------
def test_experiment_processes_match_narrowly(tmp_path: Path) -> None:
    exp_dir = tmp_path / "nni" / "exp1"
    (exp_dir / "log").mkdir(parents=True)
    sleep = [sys.executable, "-c", "import time; time.sleep(60)"]
    trial = subprocess.Popen(sleep, env={**os.environ, "NNI_EXP_ID": "exp1"})
    other = subprocess.Popen(sleep, env={**os.environ, "NNI_EXP_ID": "exp2"})
    dispatcher = subprocess.Popen(sleep, env={**os.environ, "SDK_PROCESS": "dispatcher"}, cwd=exp_dir / "log")
    viewer = subprocess.Popen(sleep, cwd=exp_dir)  # sits in the folder, is not the experiment's
    try:
        assert experiment_processes("exp1") == [trial.pid]
        assert experiment_processes("exp1", exp_dir) == sorted([trial.pid, dispatcher.pid])
        assert end_processes("exp1", exp_dir, grace=5) == []
        assert trial.wait(5) is not None and dispatcher.wait(5) is not None
        assert other.poll() is None and viewer.poll() is None
    finally:
        for proc in (trial, other, dispatcher, viewer):
            proc.kill()
            proc.wait()


def test_spec_leaves_use_active_gpu_to_the_caller(tmp_path: Path) -> None:
    spec = ExperimentSpec("python t.py", tmp_path, REPO, {"save_dir_root": str(tmp_path)}, tmp_path / "w")
    assert spec.to_config()["trainingService"] == {"platform": "local"}
    gpu = ExperimentSpec("python t.py", tmp_path, REPO, {"save_dir_root": str(tmp_path)}, tmp_path / "w",
                         trial_gpu_number=1, use_active_gpu=True)
    assert gpu.to_config()["trainingService"] == {"platform": "local", "useActiveGpu": True}
    assert gpu.to_config()["trialGpuNumber"] == 1


# --- what run says before it starts -----------------------------------------------------------
@pytest.mark.parametrize("trials, population, expected", [(3, 3, 3), (12, None, 32), (4, 3, None)])
def test_a_search_that_can_never_make_a_child_is_warned_about(
        trials: int, population: int | None, expected: int | None, tmp_path: Path, machine: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    config = yaml.safe_load((REPO / "config.yml").read_text())
    config.update(maxTrialNumber=trials, trialCodeDirectory=str(REPO))
    config["tuner"]["classArgs"].pop("population_size")
    if population is not None:
        config["tuner"]["classArgs"]["population_size"] = population
    path = tmp_path / "small.yml"
    path.write_text(yaml.safe_dump(config))
    assert run.cli(["--config", str(path), "--print-config"]) == 0
    warnings = [line for line in capsys.readouterr().err.splitlines() if not line.startswith("override ")]
    if expected is None:
        assert warnings == []
    else:
        assert len(warnings) == 1 and warnings[0].startswith(
            f"warning: maxTrialNumber {trials} <= population_size {expected}: "), warnings
        assert "never produce a child" in warnings[0]


def test_a_remote_run_says_once_up_front_that_no_baseline_is_computed(
        tmp_path: Path, machine: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    from test_report import HAND, write_journal

    config = yaml.safe_load((REPO / "config_remote.yml").read_text())
    config.update(experimentWorkingDirectory=str(tmp_path / "nni"), trialCodeDirectory=str(REPO))
    config["tuner"]["classArgs"]["save_dir_root"] = str(tmp_path / "store")
    path = tmp_path / "remote.yml"
    path.write_text(yaml.safe_dump(config))
    fake = FakeExperiment(interrupt=False)
    write_journal(tmp_path / "store", fake.id, HAND)  # a finished search: the baseline would come next
    monkeypatch.setattr(run.Experiment, "create", lambda *a, **k: fake)
    assert run.cli(["--config", str(path), "--no-baseline"]) == 0
    assert "equal-compute baseline" not in capsys.readouterr().out  # --no-baseline: not a word
    assert run.cli(["--config", str(path)]) == 0
    out = capsys.readouterr().out
    assert "best checkpoint:" in out  # the search had a best, so the baseline step was reached
    assert out.count("equal-compute baseline") == 1, out
    note = next(line for line in out.splitlines() if "equal-compute baseline" in line)
    assert note.startswith("equal-compute baseline: not computed for remote trials")
    assert out.index(note) < out.index(f"experiment {fake.id}: web UI")  # said before the search, not after

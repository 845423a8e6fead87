"""The NNI trial entry: flags, the NNI protocol (faked in-process), a standalone run."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402

from ga_squad.reader.checkpoint import checkpoint_dir, read_manifest  # noqa: E402
from ga_squad.store.contract import TrialParams  # noqa: E402
from ga_squad.search.graph import base_reader  # noqa: E402
from ga_squad.store.paths import UnsafePathError  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "trial" / "trial.py"
SMALL_DATA = ["--size", "tiny", "--train-limit", "24", "--dev-limit", "12", "--val-limit", "12",
              "--max-passage-len", "80",
              "--glove", str(REPO / "data" / "glove.sample.50d.txt")]


def load_trial_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("ga_trial_entry", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being created
    spec.loader.exec_module(module)
    return module


trial = load_trial_module()


def test_flags_become_frozen_configs() -> None:
    args = trial.parse_args([
        "--size", "tiny", "--epochs", "4", "--lr", "0.01", "--batch-size", "8",
        "--train-limit", "10", "--dev-limit", "5", "--threads", "2", "--cache-dir", "", "--seed", "7",
        "--restore-dir", "p", "--shared-ids", "aaaa,bbbb", "--save-dir", "s"])
    cfg = trial.config_from_args(args, env={})
    assert cfg.model.hidden == 16 and cfg.train.epochs == 4 and cfg.train.learning_rate == 0.01
    assert cfg.train.batch_size == 8 and cfg.train.seed == 7
    # the benchmarks' knobs (TrainConfig fields) stay at their defaults: a trial has no flag for them
    assert (cfg.train.inherited_lr_scale, cfg.train.start_competes, cfg.train.resume_optimizer) == (1.0, False, True)
    for knob in ("--inherited-lr-scale=0.5", "--start-competes", "--fresh-optimizer"):
        with pytest.raises(SystemExit):
            trial.parse_args([knob])
    assert cfg.data.train_limit == 10 and cfg.data.dev_limit == 5 and cfg.data.glove_path is None
    assert cfg.data.train_path.endswith("squad_train_sample.json")
    assert cfg.cache_dir is None and cfg.intra_threads == 2
    assert cfg.standalone.shared_ids == ("aaaa", "bbbb") and cfg.standalone.restore_dir == "p"
    under_nni = trial.config_from_args(args, env={"NNI_PLATFORM": "local"})
    assert under_nni.standalone is None
    forced = trial.config_from_args(trial.parse_args(["--standalone"]), env={"NNI_PLATFORM": "local"})
    assert forced.standalone is not None
    assert cfg.data.val_fraction == 0.05 and cfg.train.mixed_precision is False and cfg.embedding_store is None
    more = trial.config_from_args(trial.parse_args([
        "--val-fraction", "0.1", "--val-seed", "3", "--val-limit", "9", "--mixed-precision",
        "--storage-root", "root"]), env={})
    assert (more.data.val_fraction, more.data.val_seed, more.data.val_limit) == (0.1, 3, 9)
    assert more.train.mixed_precision is True and more.embedding_store == str(Path("root") / "embeddings")
    inline = trial.parse_args(["--storage-root", "root", "--embedding-store", ""])
    assert trial.config_from_args(inline, env={}).embedding_store is None


@pytest.mark.parametrize("bad", ["0", "1", "-0.1", "x"])
def test_bad_val_fraction_is_a_one_line_error(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        trial.parse_args(["--val-fraction", bad])
    assert "--val-fraction" in capsys.readouterr().err


def test_standalone_params_share_all_and_read_the_parent_id(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    named = trial.standalone_params(
        trial.StandaloneSpec(None, str(tmp_path / "c"), str(tmp_path / "p"), ("all",), 5, 2, 1))
    assert named.shared_ids == base_reader().weight_ids() and named.parent_id == 2
    spec = trial.StandaloneSpec(None, str(tmp_path / "c"), str(tmp_path / "missing"), ("all",), 5, None, 1)
    with caplog.at_level("WARNING"):
        params = trial.standalone_params(spec)
    # unreadable parent manifest: no parent is invented, the trial cold-starts and says why
    assert params.parent_id is None and params.restore_dir is None and params.shared_ids is None
    assert "parent_id null" in caplog.text and "missing" in caplog.text
    graph_file = tmp_path / "g.json"
    graph_file.write_text(base_reader().to_json(), encoding="utf-8")
    cold = trial.standalone_params(trial.StandaloneSpec(str(graph_file), "s", None, ("all",), 0, None, 0))
    assert cold.graph == base_reader() and cold.restore_dir is None and cold.shared_ids is None


def test_preset_flag_trains_a_preset_graph(capsys: pytest.CaptureFixture[str]) -> None:
    from ga_squad.search.presets import preset

    cfg = trial.config_from_args(trial.parse_args(["--preset", "drqa"]), env={})
    assert trial.standalone_params(cfg.standalone).graph == preset("drqa")
    with pytest.raises(SystemExit):
        trial.parse_args(["--preset", "drqa", "--graph", "g.json"])
    with pytest.raises(SystemExit):
        trial.parse_args(["--preset", "qanet"])
    assert "invalid choice: 'qanet'" in capsys.readouterr().err


class FakeNni:
    """Records what the trial reports; hands out one parameter set."""

    def __init__(self, params: dict) -> None:
        self.params = params
        self.intermediate: list[float] = []
        self.final: list[dict] = []

    def get_next_parameter(self) -> dict:
        return self.params

    def report_intermediate_result(self, metric: float) -> None:
        self.intermediate.append(metric)

    def report_final_result(self, metric: dict) -> None:
        json.dumps(metric)
        self.final.append(metric)


def test_under_nni_reads_the_contract_and_reports(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nni

    root = tmp_path / "storage"
    params = TrialParams(3, None, base_reader(), None, str(root / "exp" / "individuals" / "000003"), None,
                         mutation="seed", seed=2)
    fake = FakeNni(params.to_dict())
    for name in ("get_next_parameter", "report_intermediate_result", "report_final_result"):
        monkeypatch.setattr(nni, name, getattr(fake, name))
    args = trial.parse_args([*SMALL_DATA, "--epochs", "1", "--cache-dir", str(tmp_path / "cache"),
                             "--storage-root", str(root)])
    result = trial.main(trial.config_from_args(args, env={"NNI_PLATFORM": "local"}))
    assert len(fake.intermediate) == 1 and len(fake.final) == 1
    assert fake.final[0]["default"] == result["default"] == result["val_f1"] == fake.intermediate[0]
    assert {"dev_f1", "dev_em", "val_f1", "val_em", "device"} <= set(fake.final[0])
    manifest = read_manifest(params.save_dir)
    assert manifest["indiv_id"] == 3
    (entry,) = manifest["external"]  # the GloVe table lives once under the storage root
    assert (checkpoint_dir(params.save_dir) / entry["file"]).resolve().parent == (root / "embeddings").resolve()

    escaping = dict(params.to_dict(), save_dir=str(tmp_path / "elsewhere"))
    fake.params = escaping
    with pytest.raises(UnsafePathError):
        trial.main(trial.config_from_args(args, env={"NNI_PLATFORM": "local"}))


def test_standalone_cli_runs_from_any_directory(tmp_path: Path) -> None:
    """``python trial/trial.py`` finds ``ga_squad`` without PYTHONPATH, from any cwd."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "NNI_PLATFORM")}
    save_dir = tmp_path / "000000"
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), *SMALL_DATA, "--epochs", "0", "--save-dir", str(save_dir),
         "--cache-dir", str(tmp_path / "cache"), "--log-level", "WARNING"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert "default" in result and result["warm_start"] is False
    assert (checkpoint_dir(save_dir) / "manifest.json").is_file()

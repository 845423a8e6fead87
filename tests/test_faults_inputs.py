"""Bad input files give one line naming the file and the problem, never a traceback.

Seven damaged inputs of a trial (missing or truncated train file, wrong schema,
empty data, non-UTF-8 file, empty or missing GloVe) are real files on disk,
read through the dataset path a trial takes (``load_dataset`` with a cache,
whose key digests the files first); the trial entry point itself runs as a
real process on two of them. A GloVe file that covers almost nothing warns,
and ``run`` on a config.yml that is not UTF-8 answers in one line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ga_squad.reader.data_cache import load_dataset
from ga_squad.reader.dataset import DataConfig
from ga_squad.reader.input_error import InputError

REPO = Path(__file__).resolve().parents[1]
TRAIN = REPO / "data" / "squad_train_sample.json"
DEV = REPO / "data" / "squad_dev_sample.json"
GLOVE_19 = "".join(f"{w} " + " ".join(["0.1"] * 19) + "\n" for w in ("the", "of", "zebra"))

# case -> (which input, file content (None: no file), a phrase the message must hold)
CASES = {
    "missing_train": ("train", None, "not found"),
    "truncated_train": ("train", b'{"version": "1.1", "data": [{"title": "A", "paragraphs": [', "not valid JSON"),
    "wrong_schema": ("train", b'{"version": "1.1", "data": {"title": "A"}}', "data must be list"),
    "empty_data": ("train", b'{"version": "1.1", "data": []}', "holds no questions"),
    "not_utf8": ("train", b'{"version": "1.1", "data": [{"title": "caf\xe9"}]}', "not UTF-8"),
    "empty_glove": ("glove", b"", "is empty"),
    "missing_glove": ("glove", None, "not found"),
}


def bad_config(tmp_path: Path, case: str) -> tuple[DataConfig, Path]:
    which, content, _ = CASES[case]
    path = tmp_path / (f"{case}.json" if which == "train" else f"{case}.txt")
    if content is not None:
        path.write_bytes(content)
    train = str(path) if which == "train" else str(TRAIN)
    glove = str(path) if which == "glove" else None
    return DataConfig(train, str(DEV), glove_path=glove, train_limit=20, dev_limit=10, max_passage_len=60), path


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_bad_input_is_one_line_naming_the_file(tmp_path: Path, case: str) -> None:
    cfg, path = bad_config(tmp_path, case)
    with pytest.raises(InputError) as info:
        load_dataset(cfg, tmp_path / "cache")
    message = str(info.value)
    assert "\n" not in message and str(path) in message and CASES[case][2] in message


@pytest.mark.slow
@pytest.mark.parametrize("case", ["missing_train", "not_utf8"])
def test_the_trial_prints_one_line_and_exits_1(tmp_path: Path, case: str) -> None:
    cfg, path = bad_config(tmp_path, case)
    done = subprocess.run(
        [sys.executable, str(REPO / "trial" / "trial.py"), "--size", "tiny", "--epochs", "1",
         "--save-dir", str(tmp_path / "save"), "--train", cfg.train_path, "--cache-dir", str(tmp_path / "cache"),
         "--log-level", "WARNING"],
        capture_output=True, text=True, timeout=600, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert done.returncode == 1
    ours = [line for line in done.stderr.splitlines() if str(path) in line]
    assert ours == [f"error: {line.removeprefix('error: ')}" for line in ours] and len(ours) == 1, done.stderr
    assert "Traceback" not in done.stderr and CASES[case][2] in ours[0]


def test_a_glove_file_that_covers_almost_nothing_warns(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    glove = tmp_path / "glove.19d.txt"
    glove.write_text(GLOVE_19, encoding="utf-8")
    cfg = DataConfig(str(TRAIN), str(DEV), glove_path=str(glove), train_limit=20, dev_limit=10, max_passage_len=60)
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.glove"):
        data = load_dataset(cfg, None)
    assert data.embeddings is not None and data.embeddings.shape[1] == 19
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and r.name.endswith("glove")]
    assert str(glove) in warning and "19 dimensions" in warning and "right file" in warning


def test_the_bundled_glove_sample_does_not_warn(caplog: pytest.LogCaptureFixture) -> None:
    cfg = DataConfig(str(TRAIN), str(DEV), glove_path=str(REPO / "data" / "glove.sample.50d.txt"),
                     train_limit=200, dev_limit=10, max_passage_len=60)
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.glove"):
        load_dataset(cfg, None)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING and r.name.endswith("glove")] == []


def test_run_on_a_config_that_is_not_utf8_says_so_in_one_line(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    from ga_squad.cli.run import cli

    config = tmp_path / "config.yml"
    config.write_bytes((REPO / "config.yml").read_bytes().replace(b"ga-squad-sample", b"ga-squad-caf\xe9"))
    assert cli(["--config", str(config), "--print-config"]) == 2
    (err,) = capsys.readouterr().err.strip().splitlines()
    line = (REPO / "config.yml").read_text(encoding="utf-8").split("ga-squad-sample")[0].count("\n") + 1
    assert err.startswith(f"error: {config} is not UTF-8 text (line {line}, byte ") and err.endswith("save it as UTF-8")

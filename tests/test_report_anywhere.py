"""``python -m ga_squad report`` from another working directory, and its one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tiny_search import TinySearch, tiny_search


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    return tiny_search(tmp_path_factory)


def _report(argv: list[str]) -> int:
    from ga_squad.__main__ import main

    return main(["report", *argv])


def test_a_copied_search_reproduces_from_elsewhere(
        tiny: TinySearch, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    """Checkpoints record absolute data paths: a copy of the search re-evaluates from any working directory."""
    copy = tmp_path / "runs" / tiny.experiment_id
    shutil.copytree(tiny.search_dir, copy)
    for manifest_path in copy.glob("individuals/*/checkpoint/manifest.json"):
        data = json.loads(manifest_path.read_text(encoding="utf-8"))["data_config"]
        assert all(Path(data[key]).is_absolute() for key in ("train_path", "dev_path"))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert _report([str(copy), "--out", "out"]) == 0, capsys.readouterr().err
    assert "**Match**" in (elsewhere / "out" / "summary.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("argv, expected", [
    (["{tmp}/nowhere"], "error: {tmp}/nowhere is not a folder"),
    (["{root}", "--data-config", "{tmp}/missing.json", "--no-reevaluate"], "error: {tmp}/missing.json: No such file"),
    (["{root}", "--data-config", "{tmp}/bad.json", "--no-reevaluate"], "error: --data-config {tmp}/bad.json is not"),
])
def test_report_mistakes_are_one_line(tiny: TinySearch, tmp_path: Path, capsys: pytest.CaptureFixture,
                                      argv: list[str], expected: str) -> None:
    (tmp_path / "bad.json").write_text("[1]", encoding="utf-8")
    fill = {"root": str(tiny.save_dir_root), "tmp": str(tmp_path)}
    assert _report([a.format(**fill) for a in argv] + ["--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(expected.format(**fill)), err

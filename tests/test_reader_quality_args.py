"""``benchmarks/reader_quality.py --graph NAME=FILE``: retrain any graph file, with clear errors for bad ones."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.reader_quality import load_graph, parse_args
from ga_squad.search.presets import drqa_reader


def test_graph_files_are_named_readers(tmp_path: Path) -> None:
    path = tmp_path / "drqa.json"
    path.write_text(drqa_reader().to_json(), encoding="utf-8")
    cfg = parse_args(["--presets", "", "--graph", f"mine={path}", "--graph", f" other ={path}"])
    assert cfg.graphs == (("mine", str(path)), ("other", str(path)))
    assert cfg.presets == ()
    assert load_graph(str(path)) == drqa_reader()


@pytest.mark.parametrize("spec,needle", [
    ("no-equals-sign", "--graph needs NAME=FILE"),
    ("=somewhere.json", "--graph needs NAME=FILE"),
    ("x={missing}", "no such file"),
])
def test_bad_graph_arguments_are_refused(spec: str, needle: str, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["--graph", spec.format(missing=tmp_path / "missing.json")])
    assert exc.value.code == 2
    assert needle in capsys.readouterr().err


@pytest.mark.parametrize("text,needle", [
    ("{not json", "not valid JSON"),
    ('{"layers": [{"id": "x", "type": "teleport", "stream": "passage"}]}', "teleport"),
])
def test_a_malformed_graph_file_names_the_file_and_the_problem(text: str, needle: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        load_graph(str(path))
    assert str(path) in str(exc.value) and needle in str(exc.value)

"""Reading SQuAD files: valid examples, clear errors, counted skips."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path
from typing import Any

import pytest

from ga_squad.reader.squad import (
    RawQuestion,
    SquadFormatError,
    read_squad,
    split_by_article,
    text_to_example,
    write_squad_subset,
)

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_squad.json"
REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared" / "data" / "squad"


def _doc() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def _write(tmp_path: Path, doc: Any, name: str = "squad.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    return path


def test_fixture_reads_all_questions_and_keeps_the_misplaced_answer_for_scoring_only(caplog):
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.squad"):
        result = read_squad(FIXTURE)
    assert result.questions_seen == 5
    assert result.bad_answers == 1
    assert result.skipped_questions == 0
    assert [e.qid for e in result.examples] == [
        "q1-quotes", "q2-budget", "q3-unicode", "q4-end", "q5-misplaced"]
    q5 = result.examples[-1]
    assert q5.answers == ("1990\u20131995",) and q5.answer_starts == (57,)
    assert q5.gold_answers == ("1995", "1990\u20131995")  # the official script scores both texts
    for ex in result.examples:
        for text, start in zip(ex.answers, ex.answer_starts):
            assert ex.context[start:start + len(text)] == text
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "1 answer(s) are not at their answer_start" in warnings[0].getMessage()


def test_examples_are_frozen_and_keep_unicode():
    ex = read_squad(FIXTURE).examples[2]
    assert ex.title == "São_Paulo"
    assert ex.answers == ("Zoë",)
    with pytest.raises(AttributeError):
        ex.qid = "other"  # type: ignore[misc]


def test_strict_mode_raises_naming_the_answer_path():
    answer = r"data\[1\]\.paragraphs\[0\]\.qas\[2\]\.answers\[0\]"
    with pytest.raises(SquadFormatError, match=answer):
        read_squad(FIXTURE, strict=True)


def test_question_without_located_answer_is_kept_and_one_without_answers_skipped(tmp_path, caplog):
    doc = _doc()
    doc["data"][0]["paragraphs"][0]["qas"][1]["answers"] = [{"text": "$30 million", "answer_start": 3}]
    doc["data"][1]["paragraphs"][0]["qas"][0]["answers"] = []
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.squad"):
        result = read_squad(_write(tmp_path, doc))
    assert result.skipped_questions == 1 and result.unlocated_questions == 1
    assert result.bad_answers == 2
    by_id = {e.qid: e for e in result.examples}
    assert "q3-unicode" not in by_id  # no answer at all: nothing to score against
    assert by_id["q2-budget"].answers == () and by_id["q2-budget"].gold_answers == ("$30 million",)
    assert "1 question(s) have no locatable answer" in caplog.text


def test_limit_keeps_first_examples():
    assert [e.qid for e in read_squad(FIXTURE, limit=2).examples] == ["q1-quotes", "q2-budget"]


def test_text_to_example_is_pure():
    raw = RawQuestion("data[0].paragraphs[0].qas[0]", "T", "abc def", "id1", "q?",
                      (("def", 4), ("abc", 1)))
    ex, bad = text_to_example(raw)
    assert bad == 1
    assert ex is not None and ex.answers == ("def",) and ex.answer_starts == (4,)
    assert ex.gold_answers == ("def", "abc")
    none, bad = text_to_example(RawQuestion("w", "T", "abc", "id2", "q?", ()))
    assert none is None and bad == 0


def test_missing_file_names_the_path(tmp_path):
    missing = tmp_path / "nope" / "train.json"
    with pytest.raises(FileNotFoundError, match=str(missing)):
        read_squad(missing)


def test_not_json_names_file_line_and_column(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"data": [\n  {"title": "x",\n   "paragraphs": [}\n]}', encoding="utf-8")
    with pytest.raises(SquadFormatError) as info:
        read_squad(path)
    msg = str(info.value)
    assert "broken.json" in msg and "line 3" in msg and "column 19" in msg
    assert isinstance(info.value, ValueError)


def test_not_utf8_is_a_format_error(tmp_path):
    path = tmp_path / "latin1.json"
    path.write_bytes('{"data": "caf\xe9"}'.encode("latin-1"))
    with pytest.raises(SquadFormatError, match="UTF-8"):
        read_squad(path)


def _del(*keys: Any):
    def edit(doc: dict[str, Any]) -> None:
        node = doc
        for k in keys[:-1]:
            node = node[k]
        del node[keys[-1]]
    return edit


def _set(value: Any, *keys: Any):
    def edit(doc: dict[str, Any]) -> None:
        node = doc
        for k in keys[:-1]:
            node = node[k]
        node[keys[-1]] = value
    return edit


P = ("data", 1, "paragraphs", 0)


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_del("data"), r": data is missing"),
        (_set({}, "data"), r"data must be list, got dict"),
        (_set("x", "data", 0), r"data\[0\] must be an object"),
        (_del("data", 1, "paragraphs"), r"data\[1\]\.paragraphs is missing"),
        (_del(*P, "context"), r"data\[1\]\.paragraphs\[0\]\.context is missing"),
        (_set(42, *P, "context"), r"data\[1\]\.paragraphs\[0\]\.context must be str, got int"),
        (_del(*P, "qas"), r"data\[1\]\.paragraphs\[0\]\.qas is missing"),
        (_del(*P, "qas", 2, "answers"),
         r"data\[1\]\.paragraphs\[0\]\.qas\[2\]\.answers is missing"),
        (_set({"text": "x"}, *P, "qas", 2, "answers"),
         r"data\[1\]\.paragraphs\[0\]\.qas\[2\]\.answers must be list"),
        (_set("57", *P, "qas", 2, "answers", 1, "answer_start"),
         r"qas\[2\]\.answers\[1\]\.answer_start must be int, got str"),
        (_set(True, *P, "qas", 2, "answers", 1, "answer_start"),
         r"answer_start must be int, got bool"),
        (_del(*P, "qas", 0, "id"), r"data\[1\]\.paragraphs\[0\]\.qas\[0\]\.id is missing"),
        (_set("q1-quotes", *P, "qas", 0, "id"), r"duplicate question id 'q1-quotes'"),
        (_set([], "data", 0, "title"), r"data\[0\]\.title must be str"),
    ],
)
def test_schema_errors_name_the_json_path(tmp_path, edit, expected):
    doc = copy.deepcopy(_doc())
    edit(doc)
    path = _write(tmp_path, doc)
    with pytest.raises(SquadFormatError, match=expected) as info:
        read_squad(path)
    assert str(path) in str(info.value)


def test_top_level_must_be_an_object(tmp_path):
    with pytest.raises(SquadFormatError, match="top level must be a JSON object"):
        read_squad(_write(tmp_path, [1, 2]))


def test_write_subset_keeps_whole_articles_in_given_order(tmp_path):
    dst = tmp_path / "out" / "sub.json"
    n = write_squad_subset(FIXTURE, dst, ["São_Paulo", "Café_Society"])
    assert n == 5
    doc = json.loads(dst.read_text(encoding="utf-8"))
    assert [a["title"] for a in doc["data"]] == ["São_Paulo", "Café_Society"]
    assert doc["data"][1] == _doc()["data"][0]
    assert doc["version"] == "1.1"
    assert [p.name for p in dst.parent.iterdir()] == ["sub.json"]  # no temp file left
    assert write_squad_subset(FIXTURE, tmp_path / "one.json", ["Café_Society"]) == 2
    with pytest.raises(KeyError, match="Atlantis"):
        write_squad_subset(FIXTURE, tmp_path / "x.json", ["Atlantis"])


def test_bundled_samples_are_disjoint_articles():
    train = read_squad(REPO / "data" / "squad_train_sample.json")
    dev = read_squad(REPO / "data" / "squad_dev_sample.json")
    assert len(train.examples) == 1588 and len(dev.examples) == 598
    assert {e.title for e in train.examples}.isdisjoint({e.title for e in dev.examples})
    assert {e.context for e in train.examples}.isdisjoint({e.context for e in dev.examples})
    assert train.bad_answers == dev.bad_answers == 0
    assert all(len(e.answers) == 1 for e in train.examples)
    assert sum(len(e.answers) for e in dev.examples) == 1798


@pytest.mark.skipif(not (SHARED / "dev.json").exists(), reason="shared SQuAD data not present")
def test_full_official_dev_set_loads():
    result = read_squad(SHARED / "dev.json")
    assert result.questions_seen == len(result.examples) == 10570
    assert sum(len(e.answers) for e in result.examples) == 34726
    assert result.bad_answers == result.skipped_questions == 0
    assert len({e.title for e in result.examples}) == 48


@pytest.mark.skipif(not (SHARED / "train.json").exists(), reason="shared SQuAD data not present")
def test_shared_train_subset_loads():
    result = read_squad(SHARED / "train.json")
    assert len(result.examples) == 11877
    assert len({e.title for e in result.examples}) == 44


def _articles(n: int, per: int) -> dict[str, Any]:
    return {"version": "1.1", "data": [
        {"title": f"A{a}", "paragraphs": [{"context": f"text {a}", "qas": [
            {"id": f"a{a}q{q}", "question": "?", "answers": [{"text": "text", "answer_start": 0}]}
            for q in range(per)]}]} for a in range(n)]}


def test_split_by_article_holds_out_whole_articles_seeded(tmp_path):
    read = read_squad(_write(tmp_path, _articles(40, 5)))
    train, val = split_by_article(read, 0.05, seed=1)
    assert len(val.examples) == 10 and len(train.examples) == 190  # 5 % of 200 = 2 articles of 5
    assert {e.title for e in train.examples}.isdisjoint({e.title for e in val.examples})
    assert train.questions_seen + val.questions_seen == read.questions_seen
    assert split_by_article(read, 0.05, seed=1) == (train, val)
    other = split_by_article(read, 0.05, seed=2)[1]
    assert {e.title for e in other.examples} != {e.title for e in val.examples}
    assert [e.qid for e in val.examples] == sorted((e.qid for e in val.examples),
                                                   key=[e.qid for e in read.examples].index)
    none_train, none_val = split_by_article(read, 0.0)
    assert none_train == read and none_val.examples == ()


def test_split_by_article_keeps_one_article_for_training_and_rejects_bad_input(tmp_path):
    two = read_squad(_write(tmp_path, _articles(2, 3)))
    train, val = split_by_article(two, 0.9)
    assert len(train.examples) == len(val.examples) == 3
    with pytest.raises(ValueError, match="at least 2 articles"):
        split_by_article(read_squad(_write(tmp_path, _articles(1, 3), "one.json")), 0.1)
    with pytest.raises(ValueError, match="fraction"):
        split_by_article(two, 1.0)

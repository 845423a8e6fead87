"""Tokenisation keeps exact character offsets; answers map onto tokens."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ga_squad.reader.squad import read_squad
from ga_squad.reader.tokenize import Tokens, answer_token_span, tokenize

FIXTURE = Path(__file__).parent / "fixtures" / "tiny_squad.json"
REPO = Path(__file__).resolve().parent.parent


def assert_round_trip(tokens: Tokens) -> None:
    """Spans are increasing, non-empty, non-overlapping and give the words."""
    prev_end = 0
    for word, (s, e) in zip(tokens.words, tokens.spans, strict=True):
        assert prev_end <= s < e <= len(tokens.text)
        assert tokens.text[s:e] == word
        assert word.strip() == word
        prev_end = e
    # Nothing but whitespace is lost between tokens.
    gaps = [tokens.text[a[1]:b[0]] for a, b in zip(((0, 0), *tokens.spans), tokens.spans)]
    assert all(g.strip() == "" for g in gaps)
    tail = tokens.text[tokens.spans[-1][1]:] if tokens.spans else tokens.text
    assert tail.strip() == ""


@pytest.mark.parametrize(
    "text",
    [
        'He said "hello" and "goodbye".',
        '"Quoted at the start" and at the end "',
        "Literal ``double backticks'' survive ``too''",
        'Mixed "straight" and \u201ccurly\u201d quotes \u2018here\u2019',
        "Zoë’s café in São Paulo — 1990–1995, naïve résumé.",
        "tabs\tand\nnewlines  and\u00a0no-break\u2009spaces",
        "U.S. troops left in 1975. The end.",
        "It's 3.5% of $30 million... isn't it?",
        "",
        "   ",
    ],
)
def test_spans_round_trip(text):
    tokens = tokenize(text)
    assert_round_trip(tokens)
    assert tokens.text == text


def test_quotes_keep_their_original_characters():
    tokens = tokenize('He said "hello".')
    assert tokens.words == ("He", "said", '"', "hello", '"', ".")
    assert "``" not in tokens.words and "''" not in tokens.words


def test_full_stops_mid_text_are_detached_but_abbreviations_kept():
    assert tokenize("in 1995. Then U.S. forces left.").words == (
        "in", "1995", ".", "Then", "U.S.", "forces", "left", ".")


def test_glued_words_are_split():
    assert tokenize("Denver-based 1990\u20131995 km/h 11:28").words == (
        "Denver", "-", "based", "1990", "\u2013", "1995", "km", "/", "h", "11", ":", "28")


AWKWARD = list("ab1 .,\"'`-–()?!:;$%é“”’\n\t")


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(AWKWARD), max_size=60))
def test_spans_round_trip_on_random_text(text):
    assert_round_trip(tokenize(text))


def test_fixture_answers_map_to_exact_token_spans():
    for ex in read_squad(FIXTURE).examples:
        tokens = tokenize(ex.context)
        assert_round_trip(tokens)
        for text, start in zip(ex.answers, ex.answer_starts):
            span = answer_token_span(tokens.spans, start, text)
            assert span is not None
            got = ex.context[tokens.spans[span[0]][0]:tokens.spans[span[1]][1]]
            assert got == text


def test_answer_at_passage_end():
    text = "rejected by the committee"
    tokens = tokenize(text)
    assert answer_token_span(tokens.spans, text.index("the committee"), "the committee") == (2, 3)


def test_answer_inside_a_token_maps_to_the_enclosing_token():
    tokens = tokenize("a golden medal")
    assert answer_token_span(tokens.spans, 2, "gold") == (1, 1)
    assert answer_token_span(tokens.spans, 4, "lden med") == (1, 2)


def test_unmappable_answers_are_reported_as_none():
    tokens = tokenize("one  two")
    assert answer_token_span(tokens.spans, 3, " ") is None  # only whitespace
    assert answer_token_span(tokens.spans, 20, "far") is None  # past the end
    assert answer_token_span(tokens.spans, 0, "") is None


def test_bundled_sample_answers_almost_always_align_exactly():
    exact = total = 0
    cache: dict[str, Tokens] = {}
    for ex in read_squad(REPO / "data" / "squad_dev_sample.json").examples:
        if ex.context not in cache:
            cache[ex.context] = tokenize(ex.context)
        tokens = cache[ex.context]
        for text, start in zip(ex.answers, ex.answer_starts):
            span = answer_token_span(tokens.spans, start, text)
            assert span is not None
            total += 1
            exact += ex.context[tokens.spans[span[0]][0]:tokens.spans[span[1]][1]] == text.strip()
    assert total == 1798
    assert exact / total > 0.99

"""The project's SQuAD v1.1 metric against an independent implementation on the real dev set.

The second implementation is written here from the published definition
(Rajpurkar et al. 2016, ``evaluate-v1.1.py``): lower-case; remove ASCII
punctuation; remove the words a/an/the (whole word-character runs, as the
regex ``\\b(a|an|the)\\b`` does); collapse whitespace; exact match on the
normalised strings; F1 over bags of normalised tokens (0 when nothing is
shared); the maximum over the reference answers; averages on a 0-100 scale.
It shares no code with :mod:`ga_squad.reader.evaluation` (no regex, no
Counter), so a bug in one is unlikely to be repeated in the other.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest

from ga_squad.reader.evaluation import evaluate

REPO = Path(__file__).resolve().parents[1]
# ../shared/data beside the repository (a git worktree one level deeper also finds it)
_CANDIDATES = [base / "shared" / "data" / "squad" / "dev.json" for base in (REPO.parent, REPO.parent.parent)]
DEV = next((c for c in _CANDIDATES if c.is_file()), _CANDIDATES[0])
DEV_QUESTIONS = 10_570  # SQuAD v1.1 dev


def _is_word_char(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def normalise(text: str) -> list[str]:
    """Tokens of the normalised answer, by a character scan."""
    text = "".join(ch for ch in text.lower() if ch not in string.punctuation)
    pieces: list[str] = []
    run = ""
    for ch in text + " ":
        if _is_word_char(ch):
            run += ch
            continue
        if run:
            pieces.append(" " if run in ("a", "an", "the") else run)
            run = ""
        pieces.append(ch)
    return "".join(pieces).split()


def bag(tokens: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for token in tokens:
        counts[token] = counts.get(token, 0) + 1
    return counts


def f1(prediction: str, reference: str) -> float:
    pred, ref = bag(normalise(prediction)), bag(normalise(reference))
    shared = sum(min(n, ref[t]) for t, n in pred.items() if t in ref)
    if shared == 0:
        return 0.0
    precision = shared / sum(pred.values())
    recall = shared / sum(ref.values())
    return 2 * precision * recall / (precision + recall)


def exact(prediction: str, reference: str) -> float:
    return 1.0 if normalise(prediction) == normalise(reference) else 0.0


def independent_scores(predictions: dict[str, str], gold: dict[str, list[str]]) -> dict[str, float]:
    em_total = f1_total = 0.0
    for qid, answers in gold.items():
        if qid in predictions:
            em_total += max(exact(predictions[qid], a) for a in answers)
            f1_total += max(f1(predictions[qid], a) for a in answers)
    return {"exact_match": 100.0 * em_total / len(gold), "f1": 100.0 * f1_total / len(gold)}


def fixed_predictions(dataset: dict) -> tuple[dict[str, str], dict[str, list[str]]]:
    """A deterministic mix of right, partly right, noisy, wrong, empty and missing answers."""
    predictions: dict[str, str] = {}
    gold: dict[str, list[str]] = {}
    n = 0
    for article in dataset["data"]:
        for paragraph in article["paragraphs"]:
            context_tokens = paragraph["context"].split()
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa["answers"]]
                gold[qa["id"]] = answers
                first = answers[0]
                words = first.split()
                kind = n % 6
                if n % 97 == 0:
                    pass  # no prediction: scores 0
                elif kind == 0:
                    predictions[qa["id"]] = " ".join(context_tokens[:3])
                elif kind == 1:
                    predictions[qa["id"]] = first
                elif kind == 2:
                    predictions[qa["id"]] = f"The {first.upper()}!!"
                elif kind == 3:
                    predictions[qa["id"]] = " ".join(words[: max(1, len(words) // 2)] + context_tokens[-2:])
                elif kind == 4:
                    predictions[qa["id"]] = answers[-1] + " " + answers[-1]
                else:
                    predictions[qa["id"]] = ""
                n += 1
    return predictions, gold


def test_independent_definition_agrees_on_hand_cases() -> None:
    # the second implementation itself, on the definition's corner cases
    assert normalise("The Cat's  hat!") == ["cats", "hat"]
    assert normalise("theatre a-n the-end") == ["theatre", "theend"]  # "a-n" becomes the article "an"
    assert normalise("l’an the’s") == ["l’", "’s"]  # U+2019 is no ASCII punctuation: it splits words
    assert f1("the", "a") == 0.0 and exact("the", "a") == 1.0
    assert f1("red red cat", "red cat cat") == pytest.approx(2 / 3)


@pytest.mark.skipif(not DEV.is_file(), reason=f"SQuAD v1.1 dev set not found at {DEV}")
def test_metric_matches_an_independent_implementation_on_the_dev_set() -> None:
    dataset = json.loads(DEV.read_text(encoding="utf-8"))
    predictions, gold = fixed_predictions(dataset)
    assert len(gold) == DEV_QUESTIONS
    ours = evaluate(predictions, gold)
    theirs = independent_scores(predictions, gold)
    assert ours.keys() == theirs.keys()
    for key in ours:
        assert abs(ours[key] - theirs[key]) <= 1e-9, (key, ours[key], theirs[key])
    # the mix is neither all right nor all wrong, so agreement is not trivial
    assert 20.0 < theirs["exact_match"] < 80.0 and theirs["exact_match"] < theirs["f1"] < 90.0

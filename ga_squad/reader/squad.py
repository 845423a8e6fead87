"""Read SQuAD v1.1 JSON files into validated, immutable examples.

A trial that trains for an hour on a file with a typo in it is an expensive
way to find the typo, so reading is strict about structure and names the exact
JSON path of any problem (``data[3].paragraphs[0].qas[2].answers``). Answers
whose text is not where ``answer_start`` says are a data-quality problem, not
a structural one: they are counted and reported once (or raised with
``strict=True``). Such an answer cannot give a training span, but it is still
a reference text: the official v1.1 script scores against every answer text
and never looks at ``answer_start``, so every question with an answer is kept
(:attr:`SquadExample.gold_answers`) and only training drops the ones whose
span cannot be located.

:func:`split_by_article` carves a validation split out of a training file by
whole articles, so no article is seen both in training and in validation.

Walking the file (:func:`iter_raw_questions`) is kept apart from turning one
question into an example (:func:`text_to_example`), as in AllenNLP's
``SquadReader._read`` / ``text_to_instance``, so the conversion is a pure
function that tests can call directly.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ga_squad.files import write_json_atomic
from ga_squad.reader.input_error import InputError, require_file

__all__ = [
    "RawQuestion",
    "SquadExample",
    "SquadFormatError",
    "SquadReadResult",
    "iter_raw_questions",
    "read_squad",
    "read_squad_json",
    "split_by_article",
    "text_to_example",
    "write_json_atomic",
    "write_squad_subset",
]

logger = logging.getLogger(__name__)


class SquadFormatError(InputError, ValueError):
    """A SQuAD file is not valid JSON, does not follow the v1.1 schema, or holds no questions."""


@dataclass(frozen=True)
class SquadExample:
    """One question with its passage and reference answers.

    Attributes:
        qid: The question id from the file (unique within a file).
        title: Title of the article the passage comes from.
        context: The passage, unchanged.
        question: The question text, unchanged.
        answers: Reference answer texts whose spans were verified (the
            ones training can use; may be empty).
        answer_starts: Character offsets into ``context``, one per answer.
        gold_answers: Every reference answer text in the file, in file order,
            verified or not: what the official script scores against.
    """

    qid: str
    title: str
    context: str
    question: str
    answers: tuple[str, ...]
    answer_starts: tuple[int, ...]
    gold_answers: tuple[str, ...]


@dataclass(frozen=True)
class RawQuestion:
    """A structurally valid question as found in the file, not yet checked.

    Attributes:
        where: JSON path of the question, for error messages.
        title: Article title.
        context: Passage text.
        qid: Question id.
        question: Question text.
        answers: ``(text, answer_start)`` pairs as written in the file.
    """

    where: str
    title: str
    context: str
    qid: str
    question: str
    answers: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class SquadReadResult:
    """Examples read from one file, with what was dropped and why.

    Attributes:
        path: The file read.
        examples: Examples in file order.
        questions_seen: Questions in the file (before skipping).
        bad_answers: Answers whose text was not at ``answer_start`` (kept
            for scoring, unusable for training).
        skipped_questions: Questions without any answer, hence dropped (they
            cannot be scored).
        unlocated_questions: Kept questions none of whose answers is at its
            ``answer_start`` (scored on their texts, not trainable).
    """

    path: str
    examples: tuple[SquadExample, ...]
    questions_seen: int
    bad_answers: int
    skipped_questions: int
    unlocated_questions: int = 0


def read_squad_json(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Parse a JSON file, turning decoding problems into clear errors.

    Raises:
        InputFileMissing: if ``path`` does not exist (a ``FileNotFoundError``
            naming it).
        InputError: if it cannot be read.
        SquadFormatError: if the file is not UTF-8 JSON (names line/column).
    """
    p = require_file(path, "SQuAD file")
    try:
        with p.open("r", encoding="utf-8") as f:
            doc = json.load(f)
    except json.JSONDecodeError as e:
        raise SquadFormatError(
            f"{p}: not valid JSON at line {e.lineno}, column {e.colno}: {e.msg}"
        ) from e
    except UnicodeDecodeError as e:
        raise SquadFormatError(f"{p}: not UTF-8 text (byte {e.start}): {e.reason}") from e
    if not isinstance(doc, dict):
        raise SquadFormatError(f"{p}: top level must be a JSON object, got {type(doc).__name__}")
    return doc


def _get(obj: dict[str, Any], key: str, kind: type, where: str, src: str) -> Any:
    at = f"{where}.{key}" if where else key
    if key not in obj:
        raise SquadFormatError(f"{src}: {at} is missing")
    value = obj[key]
    # bool is a subclass of int, but a boolean answer_start is a schema error.
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise SquadFormatError(
            f"{src}: {at} must be {kind.__name__}, got {type(value).__name__}"
        )
    return value


def _check_object(value: Any, where: str, src: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SquadFormatError(f"{src}: {where} must be an object, got {type(value).__name__}")
    return value


def iter_raw_questions(doc: dict[str, Any], source: str = "<squad>") -> Iterator[RawQuestion]:
    """Walk a parsed SQuAD document, validating its structure.

    Args:
        doc: The parsed JSON object.
        source: Name used in error messages (usually the file path).

    Yields:
        One :class:`RawQuestion` per question, in file order.

    Raises:
        SquadFormatError: on a missing key, a wrong type or a duplicate id,
            naming the JSON path, e.g. ``data[3].paragraphs[0].qas[2].answers``.
    """
    seen: dict[str, str] = {}
    articles = _get(doc, "data", list, "", source)
    for a, article in enumerate(articles):
        aw = f"data[{a}]"
        article = _check_object(article, aw, source)
        title = article.get("title", "")
        if not isinstance(title, str):
            raise SquadFormatError(f"{source}: {aw}.title must be str, got {type(title).__name__}")
        for p, para in enumerate(_get(article, "paragraphs", list, aw, source)):
            pw = f"{aw}.paragraphs[{p}]"
            para = _check_object(para, pw, source)
            context = _get(para, "context", str, pw, source)
            for q, qa in enumerate(_get(para, "qas", list, pw, source)):
                qw = f"{pw}.qas[{q}]"
                qa = _check_object(qa, qw, source)
                qid = _get(qa, "id", str, qw, source)
                question = _get(qa, "question", str, qw, source)
                if qid in seen:
                    raise SquadFormatError(
                        f"{source}: duplicate question id {qid!r} at {qw} (first at {seen[qid]})"
                    )
                seen[qid] = qw
                answers = []
                for n, ans in enumerate(_get(qa, "answers", list, qw, source)):
                    nw = f"{qw}.answers[{n}]"
                    ans = _check_object(ans, nw, source)
                    text = _get(ans, "text", str, nw, source)
                    start = _get(ans, "answer_start", int, nw, source)
                    answers.append((text, start))
                yield RawQuestion(qw, title, context, qid, question, tuple(answers))


def text_to_example(raw: RawQuestion, *, strict: bool = False) -> tuple[SquadExample | None, int]:
    """Turn one raw question into an example; only verified answers give spans.

    Args:
        raw: The question as read from the file.
        strict: Raise instead of dropping an answer whose text is not at its
            ``answer_start``.

    Returns:
        ``(example, n_bad)``: the example (``None`` only if the question has
        no answer at all) and how many of its answers are not at their
        ``answer_start`` (those stay in ``gold_answers`` only).

    Raises:
        SquadFormatError: with ``strict=True``, on the first misplaced answer.
    """
    texts: list[str] = []
    starts: list[int] = []
    bad = 0
    for n, (text, start) in enumerate(raw.answers):
        if start >= 0 and text and raw.context[start:start + len(text)] == text:
            texts.append(text)
            starts.append(start)
            continue
        if strict:
            found = raw.context[max(start, 0):max(start, 0) + len(text)]
            raise SquadFormatError(
                f"{raw.where}.answers[{n}]: answer {text!r} is not at answer_start={start} "
                f"(context has {found!r} there)"
            )
        bad += 1
    if not raw.answers:
        return None, bad
    return (
        SquadExample(
            qid=raw.qid,
            title=raw.title,
            context=raw.context,
            question=raw.question,
            answers=tuple(texts),
            answer_starts=tuple(starts),
            gold_answers=tuple(text for text, _ in raw.answers),
        ),
        bad,
    )


def read_squad(
    path: str | os.PathLike[str], *, strict: bool = False, limit: int | None = None
) -> SquadReadResult:
    """Read and validate a SQuAD v1.1 file.

    Args:
        path: The JSON file.
        strict: Raise on an answer whose text is not at ``answer_start``
            instead of keeping it for scoring only (one warning reports the count).
        limit: Keep only the first ``limit`` examples (the whole file is
            still validated).

    Returns:
        The examples and counts of what was skipped.

    Raises:
        FileNotFoundError: if the file is missing (:class:`~ga_squad.reader.input_error.InputFileMissing`).
        SquadFormatError: if it is not JSON, breaks the schema or holds no question.
    """
    src = str(path)
    doc = read_squad_json(path)
    examples: list[SquadExample] = []
    seen = bad = skipped = unlocated = 0
    for raw in iter_raw_questions(doc, src):
        seen += 1
        example, n_bad = text_to_example(raw, strict=strict)
        bad += n_bad
        if example is None:
            skipped += 1
            continue
        unlocated += not example.answers
        if limit is None or len(examples) < limit:
            examples.append(example)
    if seen == 0:
        raise SquadFormatError(f"{src}: holds no questions (its data list has no article with a question)")
    if bad or skipped:
        logger.warning(
            "%s: %d answer(s) are not at their answer_start (scored on text, not trained on; "
            "%d question(s) have no locatable answer); %d question(s) without answers were skipped",
            src, bad, unlocated, skipped,
        )
    return SquadReadResult(src, tuple(examples), seen, bad, skipped, unlocated)


def _part(read: SquadReadResult, examples: Sequence[SquadExample], questions: int, skipped: int) -> SquadReadResult:
    return SquadReadResult(
        read.path, tuple(examples), questions,
        bad_answers=sum(len(ex.gold_answers) - len(ex.answers) for ex in examples),
        skipped_questions=skipped, unlocated_questions=sum(not ex.answers for ex in examples))


def split_by_article(
    read: SquadReadResult, fraction: float, seed: int = 0
) -> tuple[SquadReadResult, SquadReadResult]:
    """Carve a validation split out of a training file, by whole articles.

    Articles (grouped by title) are shuffled with ``seed`` and, in that
    order, each is held out when it brings the held-out question count
    closer to ``fraction`` of the questions (so one big article does not
    overshoot the target); at least one article goes to validation and at
    least one stays in training. Whole articles
    keep the two apart the way train and dev are apart: no passage, and no
    article, is in both.

    Args:
        read: The whole training file (call before applying any limit).
        fraction: Share of the questions to hold out, in ``[0, 1)``; 0 holds
            out nothing (the validation part is empty).
        seed: Seed of the article shuffle; same file, fraction and seed,
            same split.

    Returns:
        ``(train, validation)``, each in file order, with its own counts.

    Raises:
        ValueError: if ``fraction`` is out of range.
        SquadFormatError: if ``fraction`` is positive while the file has
            fewer than two articles (a ``ValueError`` too).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"validation fraction must be in [0, 1), got {fraction}")
    if fraction == 0.0:
        return read, _part(read, (), 0, 0)
    sizes: dict[str, int] = {}
    for ex in read.examples:
        sizes[ex.title] = sizes.get(ex.title, 0) + 1
    if len(sizes) < 2:
        raise SquadFormatError(f"{read.path}: a validation split by article needs at least 2 articles "
                               f"with answered questions, found {len(sizes)}")
    titles = list(sizes)
    order = np.random.default_rng(seed).permutation(len(titles))
    held: set[str] = set()
    count = 0
    target = fraction * len(read.examples)
    for i in order:
        if len(held) == len(titles) - 1:
            break
        size = sizes[titles[i]]
        if not held or abs(count + size - target) < abs(count - target):
            held.add(titles[i])
            count += size
    train = [ex for ex in read.examples if ex.title not in held]
    val = [ex for ex in read.examples if ex.title in held]
    return (_part(read, train, read.questions_seen - len(val), read.skipped_questions),
            _part(read, val, len(val), 0))


def write_squad_subset(
    src: str | os.PathLike[str], dst: str | os.PathLike[str], titles: Sequence[str]
) -> int:
    """Write a SQuAD file holding only whole articles chosen by title.

    Whole articles keep train and dev apart at article level, as the official
    split does. The articles are copied unchanged, in the order of ``titles``;
    the write is atomic (temporary file in the same folder, then rename).

    Args:
        src: Source SQuAD file.
        dst: Destination path.
        titles: Article titles to keep.

    Returns:
        The number of questions written.

    Raises:
        KeyError: if a title is not in ``src``.
        SquadFormatError: if ``src`` is invalid (it is validated first).
    """
    doc = read_squad_json(src)
    for _ in iter_raw_questions(doc, str(src)):
        pass
    by_title = {a.get("title"): a for a in doc["data"]}
    missing = [t for t in titles if t not in by_title]
    if missing:
        raise KeyError(f"{src}: no article titled {missing}")
    chosen = [by_title[t] for t in titles]
    out = {"version": doc.get("version", "1.1"), "data": chosen}
    write_json_atomic(dst, out)
    return sum(len(p["qas"]) for a in chosen for p in a["paragraphs"])

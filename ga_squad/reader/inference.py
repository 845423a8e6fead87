"""Answer new questions with a trained reader: raw text -> tokens -> arrays -> spans -> text.

Questions are encoded with :func:`ga_squad.reader.dataset.encode_examples`,
the very tokenisation, truncation and encoding of a trial's dev split, with
the reader's own vocabularies; batches come from
:func:`ga_squad.reader.arrays.iterate_batches` and spans from
:func:`ga_squad.reader.evaluation.decode_best_span`, as in the trial's
scoring. A predictions file therefore scores what the trial reported on the
same questions.

Memory stays bounded on a full SQuAD file: questions are encoded
``chunk_size`` at a time (the arrays of one chunk exist at once, never those
of the whole file), and only strings are kept for the rest.

The score of an answer is the model's probability of that span,
``softmax(begin)[start] * softmax(end)[end]`` over the passage tokens.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from ga_squad.reader.arrays import SquadArrays, iterate_batches
from ga_squad.reader.dataset import encode_examples
from ga_squad.reader.evaluation import decode_best_span, write_predictions
from ga_squad.reader.squad import SquadExample, SquadFormatError, iter_raw_questions, read_squad_json
from ga_squad.reader.tokenize import tokenize

if TYPE_CHECKING:  # the bundle loads TensorFlow; reading and checking input must not
    from ga_squad.reader.bundle import Reader

__all__ = [
    "Answer",
    "PredictInputError",
    "PredictStats",
    "Question",
    "answer",
    "answer_all",
    "predict_file",
    "read_questions",
]

logger = logging.getLogger(__name__)

CHUNK_SIZE = 2048  # questions encoded at once (bounds memory on a full SQuAD file)


class PredictInputError(ValueError):
    """An input to predict is not usable (not SQuAD JSON, empty question...); the message says why."""


@dataclass(frozen=True)
class Question:
    """One question about one passage.

    Attributes:
        qid: Its id (the key in ``predictions.json``).
        question: The question text.
        passage: The passage to find the answer in.
    """

    qid: str
    question: str
    passage: str


@dataclass(frozen=True)
class Answer:
    """The reader's answer to one question.

    Attributes:
        text: The answer, exactly ``passage[start:end]``.
        start: Character offset of its first character in the passage.
        end: Character offset just past its last character.
        score: Probability of this span under the model (0-1).
        token_start: First answer token.
        token_end: Last answer token (inclusive).
    """

    text: str
    start: int
    end: int
    score: float
    token_start: int
    token_end: int


@dataclass(frozen=True)
class PredictStats:
    """What one predictions run did.

    Attributes:
        questions: Questions answered.
        seconds: Wall time of encoding and answering.
        output: The predictions file written.
    """

    questions: int
    seconds: float
    output: Path

    @property
    def questions_per_second(self) -> float:
        return self.questions / self.seconds if self.seconds > 0 else float("inf")


# --- reading input --------------------------------------------------------------
def _fill_missing_answers(doc: dict[str, Any]) -> None:
    """Give ``answers: []`` to questions without any (test files have none; we only predict).

    Anything malformed is left alone for :func:`iter_raw_questions` to name.
    """
    def items(obj: Any, key: str) -> list[Any]:
        value = obj.get(key) if isinstance(obj, dict) else None
        return value if isinstance(value, list) else []

    for article in items(doc, "data"):
        for para in items(article, "paragraphs"):
            for qa in items(para, "qas"):
                if isinstance(qa, dict):
                    qa.setdefault("answers", [])


def read_questions(path: str | os.PathLike[str]) -> list[Question]:
    """Every question of a SQuAD-format JSON file, in file order (answers are not needed).

    Raises:
        PredictInputError: naming the file and what is wrong with it (a question
            with an empty passage or text: naming its id).
    """
    try:
        doc = read_squad_json(path)
        _fill_missing_answers(doc)
        questions = [Question(raw.qid, raw.question, raw.context) for raw in iter_raw_questions(doc, str(path))]
    except FileNotFoundError:
        raise PredictInputError(f"input file {path} does not exist") from None
    except (SquadFormatError, IsADirectoryError, PermissionError) as exc:
        detail = str(exc).removeprefix(f"{path}: ").removeprefix(f"{Path(path)}: ")
        raise PredictInputError(f"{path} is not a SQuAD v1.1 JSON file: {detail}") from None
    if not questions:
        raise PredictInputError(f"{path} holds no questions (data[].paragraphs[].qas[] is empty)")
    for q in questions:  # an empty passage has no span to answer from (softmax over nothing)
        if not q.passage.strip():
            raise PredictInputError(f"{path}: question {q.qid!r} has an empty passage (its paragraph's "
                                    f"\"context\" is empty); give the paragraph its text or leave the question out")
        if not q.question.strip():
            raise PredictInputError(f"{path}: question {q.qid!r} is empty (its \"question\" has no text)")
    return questions


# --- answering ------------------------------------------------------------------
def _log_softmax(logits: np.ndarray, mask: np.ndarray) -> np.ndarray:
    x = np.where(mask, logits.astype(np.float64), -np.inf)
    top = np.max(x, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    return x - top - np.log(np.sum(np.exp(x - top), axis=1, keepdims=True))


class _QuietNoSpan(logging.Filter):
    """Drop the dev-split warning about questions without a reference answer (we have none to give)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "no reference answer" not in record.getMessage()


@contextlib.contextmanager
def _no_span_warnings() -> Iterator[None]:
    target = logging.getLogger("ga_squad.reader.dataset")
    quiet = _QuietNoSpan()
    target.addFilter(quiet)
    try:
        yield
    finally:
        target.removeFilter(quiet)


def _answer_arrays(reader: Reader, arrays: SquadArrays) -> Iterator[tuple[str, Answer]]:
    for batch in iterate_batches(arrays, reader.batch_size, shuffle=False):
        begin, end = reader.logits(batch)
        mask = batch["passage_words"] != 0
        starts, ends = decode_best_span(begin, end, mask, reader.max_answer_len)
        rows = np.arange(len(starts))
        log_p = _log_softmax(begin, mask)[rows, starts] + _log_softmax(end, mask)[rows, ends]
        texts = arrays.answer_texts(batch["index"], starts, ends)
        for i, row in enumerate(batch["index"]):
            spans = arrays.passage_spans[row]
            char_start, char_end = int(spans[starts[i]][0]), int(spans[ends[i]][1])
            yield arrays.qids[int(row)], Answer(texts[i], char_start, char_end, float(np.exp(log_p[i])),
                                                int(starts[i]), int(ends[i]))


def _unanswered(q: Question) -> SquadExample:
    """The question as an example without reference answers: every answer field is empty."""
    known = {"qid": q.qid, "title": "", "context": q.passage, "question": q.question}
    return SquadExample(**known, **{f.name: () for f in dataclasses.fields(SquadExample) if f.name not in known})


def answer_all(
    reader: Reader, questions: Iterable[Question], chunk_size: int = CHUNK_SIZE,
    on_progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, Answer]]:
    """Answer questions in order of arrival, ``chunk_size`` at a time.

    Args:
        reader: The loaded reader.
        questions: Any iterable (consumed lazily, one chunk at a time).
        chunk_size: Questions encoded at once.
        on_progress: Called with the number of questions just answered.

    Yields:
        ``(qid, answer)``; within a chunk, in batch order (batches group
        passages of similar length).
    """
    if chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1, got {chunk_size}")
    cfg = reader.assets.data_config()
    chunk: list[SquadExample] = []

    def flush() -> Iterator[tuple[str, Answer]]:
        with _no_span_warnings():
            arrays = encode_examples(chunk, reader.assets.word_vocab, reader.assets.char_vocab, cfg)
        for item in _answer_arrays(reader, arrays):
            yield item
            if on_progress is not None:
                on_progress(1)

    for q in questions:
        chunk.append(_unanswered(q))
        if len(chunk) >= chunk_size:
            yield from flush()
            chunk = []
    if chunk:
        yield from flush()


def answer(reader: Reader, question: str, passage: str) -> Answer:
    """The reader's answer to one question about one passage.

    Raises:
        PredictInputError: if the question or passage is empty.
    """
    if not question.strip():
        raise PredictInputError("the question is empty; pass --question TEXT")
    if not passage.strip():
        raise PredictInputError("the passage is empty; pass --passage TEXT or --passage-file FILE")
    ((_, result),) = answer_all(reader, [Question("q", question, passage)])
    limit = reader.assets.tokenizer.max_passage_len
    if len(tokenize(passage)) > limit:
        logger.warning("the passage is longer than the reader's %d tokens; only its start was read", limit)
    return result


def predict_file(
    reader: Reader,
    input_path: str | os.PathLike[str],
    output_path: str | os.PathLike[str],
    *,
    progress: bool = True,
    chunk_size: int = CHUNK_SIZE,
    questions: Sequence[Question] | None = None,
) -> PredictStats:
    """Answer every question of a SQuAD-format file and write ``{id: answer}`` (the official format).

    Args:
        reader: The loaded reader.
        input_path: SQuAD v1.1 JSON (reference answers are not needed).
        output_path: Where to write the predictions (atomically).
        progress: Show a tqdm progress bar with throughput on stderr.
        chunk_size: Questions encoded at once.
        questions: ``read_questions(input_path)`` when the caller already has it.

    Raises:
        PredictInputError: if the input is not SQuAD JSON.
    """
    if questions is None:
        questions = read_questions(input_path)
    started = time.perf_counter()
    predictions: dict[str, str] = {}
    with tqdm(total=len(questions), unit="q", desc="answering", disable=not progress, leave=True) as bar:
        for qid, result in answer_all(reader, questions, chunk_size, on_progress=bar.update):
            predictions[qid] = result.text
    seconds = time.perf_counter() - started
    write_predictions(output_path, predictions)
    stats = PredictStats(len(predictions), seconds, Path(output_path))
    logger.info("answered %d questions in %.1f s (%.1f questions/s) -> %s",
                stats.questions, seconds, stats.questions_per_second, output_path)
    return stats


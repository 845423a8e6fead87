"""Word tokenisation that keeps every token's character offsets.

A reader predicts token indices, but SQuAD scores answer *text*; the only
lossless way back from tokens to text is to keep, for each token, its
``(start, end)`` span in the original string. NLTK's Treebank-style
tokenizer rewrites ``"`` to `````` / ``''``; its ``span_tokenize`` maps those
back to the original quote characters and aligns the tokens with
``nltk.tokenize.util.align_tokens``, so this module only refines NLTK's spans
(splitting glued words) and uses the original substrings as the token strings.

Only ``nltk.tokenize.NLTKWordTokenizer`` is used: it is pure regular
expressions and needs no ``nltk_data`` download (unlike ``word_tokenize``,
which needs the punkt sentence model).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from nltk.tokenize import NLTKWordTokenizer

__all__ = [
    "Span",
    "TokenAlignmentError",
    "Tokens",
    "answer_token_span",
    "tokenize",
]

Span = tuple[int, int]

# Characters that glue words together in Wikipedia text ("1990-1995",
# "Denver-based", "km/h", "11:28"). SQuAD answers often stop at them, so a token is
# split around them (the BiDAF preprocessing does the same) to make more
# answers start and end on token boundaries.
_SPLIT_RE = re.compile(r"([\-\u2010-\u2015\u2212/~:\u00b0\u2032\u2033\u00b7])")
_ABBREV_RE = re.compile(r"^(?:[^\W\d_]\.)+$")


class TokenAlignmentError(ValueError):
    """A tokenizer output could not be located in the original text."""


@dataclass(frozen=True)
class Tokens:
    """Tokens of one string and where each one came from.

    Attributes:
        text: The original string.
        words: Token strings; ``words[i] == text[spans[i][0]:spans[i][1]]``.
        spans: Character ``(start, end)`` offsets, end exclusive, increasing.
    """

    text: str
    words: tuple[str, ...]
    spans: tuple[Span, ...]

    def __len__(self) -> int:
        return len(self.words)


@lru_cache(maxsize=1)
def _tokenizer() -> NLTKWordTokenizer:
    return NLTKWordTokenizer()


def _nltk_spans(text: str) -> list[Span]:
    """NLTK's token spans of ``text``.

    Raises:
        TokenAlignmentError: if NLTK cannot align a token with the text.
    """
    try:
        return list(_tokenizer().span_tokenize(text))
    except (ValueError, RuntimeError) as exc:  # align_tokens: ValueError; too few quotes: RuntimeError
        raise TokenAlignmentError(f"cannot align NLTK tokens with {text[:60]!r}: {exc}") from exc


def _split_glued(text: str, span: Span) -> list[Span]:
    start = span[0]
    parts: list[str] = []
    for part in _SPLIT_RE.split(text[span[0]:span[1]]):
        if len(part) > 1 and part.endswith(".") and not _ABBREV_RE.match(part):
            # The tokenizer only detaches a full stop at the end of the whole
            # string (it expects one sentence); detach it mid-text too, but
            # keep dotted abbreviations such as "U.S." whole.
            parts.extend((part[:-1], "."))
        elif part:
            parts.append(part)
    out: list[Span] = []
    for part in parts:
        out.append((start, start + len(part)))
        start += len(part)
    return out


def tokenize(text: str) -> Tokens:
    """Split ``text`` into word tokens with character offsets.

    Args:
        text: Any string (passage or question).

    Returns:
        The tokens; each token string is exactly the original substring, so a
        double quote stays ``"`` rather than Treebank's ```` `` ````/``''``.

    Raises:
        TokenAlignmentError: if the tokenizer produced a string that is not in
            the text (never seen on SQuAD; it would mean an NLTK change).
    """
    spans: list[Span] = []
    for span in _nltk_spans(text):
        spans.extend(_split_glued(text, span))
    return Tokens(
        text=text,
        words=tuple(text[s:e] for s, e in spans),
        spans=tuple(spans),
    )


def answer_token_span(
    spans: tuple[Span, ...] | list[Span], char_start: int, answer_text: str
) -> tuple[int, int] | None:
    """Map a character-level answer onto token indices.

    The span runs from the first token that overlaps the answer's first
    character to the last token that overlaps its last character, so an answer
    that starts or ends inside a token still maps (to the enclosing tokens).

    Args:
        spans: Token character spans of the passage, increasing.
        char_start: ``answer_start`` from the SQuAD file.
        answer_text: The answer string.

    Returns:
        ``(first_token, last_token)`` inclusive, or ``None`` when no token
        overlaps the answer (e.g. an answer of only whitespace); callers count
        these failures.
    """
    char_end = char_start + len(answer_text)
    if char_end <= char_start:
        return None
    first = last = None
    for i, (s, e) in enumerate(spans):
        if e <= char_start:
            continue
        if s >= char_end:
            break
        if first is None:
            first = i
        last = i
    if first is None or last is None:
        return None
    return first, last

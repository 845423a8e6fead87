"""Word and character vocabularies with fixed padding/unknown ids.

Every id array in the data pipeline uses 0 for padding, so a model computes
its mask as ``ids != 0``; unknown words and characters share id 1. The order
of entries is a pure function of the training counts (count descending, then
string), so two trials that build a vocabulary from the same data get the
same ids, and their embedding rows can be shared.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "PAD",
    "PAD_TOKEN",
    "UNK",
    "UNK_TOKEN",
    "Vocab",
    "build_char_vocab",
    "build_vocab",
    "build_word_vocab",
]

PAD = 0
UNK = 1
PAD_TOKEN = "<pad>"
UNK_TOKEN = "<unk>"


@dataclass(frozen=True)
class Vocab:
    """An immutable string <-> id mapping.

    Attributes:
        tokens: Entries by id; ``tokens[0]`` is PAD and ``tokens[1]`` is UNK.
        counts: Training count of each entry (0 for PAD and UNK).
        lowercase: Whether lookups lowercase their input first (words: yes,
            so ids match the uncased GloVe 6B vectors; characters: no).
    """

    tokens: tuple[str, ...]
    counts: tuple[int, ...]
    lowercase: bool
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.tokens[:2] != (PAD_TOKEN, UNK_TOKEN):
            raise ValueError(f"a Vocab must start with {PAD_TOKEN!r}, {UNK_TOKEN!r}")
        if len(self.counts) != len(self.tokens):
            raise ValueError(f"{len(self.tokens)} tokens but {len(self.counts)} counts")
        index = {t: i for i, t in enumerate(self.tokens)}
        if len(index) != len(self.tokens):
            raise ValueError("duplicate entries in vocabulary")
        object.__setattr__(self, "_index", index)

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: object) -> bool:
        return isinstance(token, str) and self._key(token) in self._index

    def _key(self, token: str) -> str:
        return token.lower() if self.lowercase else token

    def id(self, token: str) -> int:
        """Id of ``token``, or UNK."""
        return self._index.get(self._key(token), UNK)

    def ids(self, tokens: Iterable[str]) -> list[int]:
        """Ids of several tokens (unknown ones map to UNK)."""
        get, key = self._index.get, self._key
        return [get(key(t), UNK) for t in tokens]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready description; inverse of :meth:`from_dict`."""
        return {
            "tokens": list(self.tokens),
            "counts": list(self.counts),
            "lowercase": self.lowercase,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Vocab:
        """Rebuild a vocabulary written by :meth:`to_dict`."""
        return cls(tuple(d["tokens"]), tuple(int(c) for c in d["counts"]), bool(d["lowercase"]))

    def to_json(self) -> str:
        """Serialise to a JSON string."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Vocab:
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))


def build_vocab(
    counts: Mapping[str, int],
    *,
    lowercase: bool,
    min_count: int = 1,
    max_size: int | None = None,
) -> Vocab:
    """Build a vocabulary from counts.

    Args:
        counts: Occurrences of each (already normalised) entry.
        lowercase: Stored on the vocabulary; lookups lowercase if true.
        min_count: Drop entries seen fewer times.
        max_size: Cap on the total size, PAD and UNK included.

    Returns:
        The vocabulary, ordered by count descending then string.
    """
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    if max_size is not None and max_size < 2:
        raise ValueError(f"max_size must be >= 2 (PAD and UNK), got {max_size}")
    kept = sorted(
        ((t, c) for t, c in counts.items() if c >= min_count and t not in (PAD_TOKEN, UNK_TOKEN)),
        key=lambda tc: (-tc[1], tc[0]),
    )
    if max_size is not None:
        kept = kept[: max_size - 2]
    return Vocab(
        tokens=(PAD_TOKEN, UNK_TOKEN, *(t for t, _ in kept)),
        counts=(0, 0, *(c for _, c in kept)),
        lowercase=lowercase,
    )


def build_word_vocab(
    sentences: Iterable[Sequence[str]], *, min_count: int = 1, max_size: int | None = None
) -> Vocab:
    """Lowercased word vocabulary from tokenised training text."""
    counts: Counter[str] = Counter()
    for words in sentences:
        counts.update(w.lower() for w in words)
    return build_vocab(counts, lowercase=True, min_count=min_count, max_size=max_size)


def build_char_vocab(
    sentences: Iterable[Sequence[str]], *, min_count: int = 1, max_size: int | None = None
) -> Vocab:
    """Case-sensitive character vocabulary from tokenised training text."""
    counts: Counter[str] = Counter()
    for words in sentences:
        for w in words:
            counts.update(w)
    return build_vocab(counts, lowercase=False, min_count=min_count, max_size=max_size)

"""GloVe reading is strict and loud; embedding rows really are the vectors."""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from ga_squad.reader.glove import GloveFormatError, build_embedding_matrix, read_glove
from ga_squad.reader.vocab import PAD, UNK, build_vocab, build_word_vocab

REPO = Path(__file__).resolve().parent.parent
SAMPLE_GLOVE = REPO / "data" / "glove.sample.50d.txt"


def _file(tmp_path: Path, text: str, name: str = "vec.txt") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_reads_any_dimension_exactly(tmp_path):
    g = read_glove(_file(tmp_path, "the 0.1 -0.25 3\ncafé 1e-3 2.5 -7\n"))
    assert g.dim == 3 and g.words == ("the", "café")
    assert g.vectors.dtype == np.float32
    np.testing.assert_array_equal(g.get("the"), np.float32([0.1, -0.25, 3]))
    np.testing.assert_array_equal(g.get("café"), np.float32([1e-3, 2.5, -7]))
    assert g.get("missing") is None and g.bad_lines == 0


def test_malformed_lines_are_skipped_counted_and_reported(tmp_path, caplog):
    text = (
        "a 1 2 3\n"
        "b 1 2\n"            # line 2: too few fields
        "c 1 2 3 4\n"        # line 3: too many
        "d 1 x 3\n"          # line 4: not a float
        "e 1 nan 3\n"        # line 5: not finite
        "\n"                 # line 6: empty
        "f 4 5 6\n"
    )
    path = _file(tmp_path, text)
    with caplog.at_level(logging.WARNING, logger="ga_squad.reader.glove"):
        g = read_glove(path)
    assert g.words == ("a", "f")
    assert g.bad_lines == 5 and g.first_bad_line == 2
    (record,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    msg = record.getMessage()
    assert str(path) in msg and "5 malformed" in msg and "line 2" in msg
    # Lines of words that are not kept are only checked for their length.
    kept = read_glove(path, keep={"f"})
    assert kept.words == ("f",) and kept.bad_lines == 3


def test_dimension_is_voted_so_a_bad_first_line_does_not_win(tmp_path):
    g = read_glove(_file(tmp_path, "400000 3\na 1 2 3\nb 4 5 6\nc 7 8 9\n"))
    assert g.dim == 3 and g.words == ("a", "b", "c") and g.bad_lines == 1


def test_given_dimension_is_enforced(tmp_path):
    g = read_glove(_file(tmp_path, "a 1 2\nb 1 2 3\n"), dim=3)
    assert g.words == ("b",) and g.first_bad_line == 1


def test_duplicates_keep_the_first_vector_and_keep_filters(tmp_path):
    path = _file(tmp_path, "a 1 1\nb 2 2\na 3 3\n")
    g = read_glove(path)
    assert g.words == ("a", "b")
    np.testing.assert_array_equal(g.get("a"), [1, 1])
    assert read_glove(path, keep={"b"}).words == ("b",)


@pytest.mark.parametrize(
    ("text", "match"), [("", "is empty"), ("x\ny 1 z\n", "no valid vector line")]
)
def test_files_without_a_usable_line_are_errors(tmp_path, text, match):
    path = _file(tmp_path, text)
    with pytest.raises(GloveFormatError, match=match) as info:
        read_glove(path)
    assert str(path) in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="glove.txt"):
        read_glove(tmp_path / "glove.txt")


def test_embedding_rows_equal_glove_vectors(tmp_path):
    glove = read_glove(_file(tmp_path, "the 0.5 -1.5\ncat 2 3\nzebra 9 9\n"))
    vocab = build_vocab({"the": 5, "cat": 2, "dog": 2}, lowercase=True)
    matrix, cov = build_embedding_matrix(vocab, glove, seed=3)
    assert matrix.dtype == np.float32 and matrix.shape == (5, 2)
    np.testing.assert_array_equal(matrix[vocab.id("The")], glove.get("the"))
    np.testing.assert_array_equal(matrix[vocab.id("cat")], glove.get("cat"))
    np.testing.assert_array_equal(matrix[PAD], 0.0)
    assert np.all(matrix[UNK] != 0) and np.all(np.abs(matrix[vocab.id("dog")]) < 1)
    assert (cov.vocab_words, cov.vocab_covered) == (3, 2)
    assert (cov.token_total, cov.token_covered) == (9, 7)
    assert cov.vocab_fraction == pytest.approx(2 / 3)
    again, _ = build_embedding_matrix(vocab, glove, seed=3)
    other, _ = build_embedding_matrix(vocab, glove, seed=4)
    np.testing.assert_array_equal(matrix, again)
    assert not np.array_equal(matrix[vocab.id("dog")], other[vocab.id("dog")])


def test_token_coverage_uses_given_counts(tmp_path):
    glove = read_glove(_file(tmp_path, "the 1 1\n"))
    vocab = build_vocab({"the": 3}, lowercase=True)
    _, cov = build_embedding_matrix(vocab, glove, token_counts=Counter({"the": 3, "rare": 1}))
    assert cov.token_fraction == pytest.approx(0.75)


def test_bundled_glove_row_regression_for_the_old_enumerate_bug():
    """The old NNI example never loaded GloVe; the row of "the" must be its vector."""
    first = SAMPLE_GLOVE.read_text(encoding="utf-8").splitlines()[0].split(" ")
    assert first[0] == "the"
    expected = np.asarray([float(x) for x in first[1:]], dtype=np.float32)
    glove = read_glove(SAMPLE_GLOVE)
    assert glove.dim == 50 and len(glove) == 3291 and glove.bad_lines == 0
    vocab = build_word_vocab([["The", "University", "of", "the", "on", "xyzzyq"]])
    matrix, cov = build_embedding_matrix(vocab, glove)
    np.testing.assert_array_equal(matrix[vocab.id("the")], expected)
    assert matrix[vocab.id("the")][0] == np.float32(0.418)
    assert cov.vocab_covered == cov.vocab_words - 1  # only the nonsense word is missing

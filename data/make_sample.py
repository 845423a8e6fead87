"""Regenerate the small bundled SQuAD/GloVe sample from ../shared/data.

The sample lets the search and its tests run offline on real data. It is
chosen by whole articles (train articles from the training file, dev
articles from the dev file, so they never share a passage). The GloVe file
keeps, verbatim, only the lines of words that occur in the *training* sample:
the word vocabulary is built from training data only, so a vector for a word
seen only in dev would never be used, and leaving those out keeps the bundle
near 2 MB.

Usage (from the repository root)::

    .venv/bin/python data/make_sample.py [--shared ../shared/data] [--out data]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

from ga_squad.reader.squad import read_squad, write_squad_subset  # noqa: E402
from ga_squad.reader.tokenize import tokenize  # noqa: E402

logger = logging.getLogger("make_sample")

# Whole articles, chosen for mid-sized articles on varied topics.
TRAIN_TITLES = (
    "University_of_Notre_Dame",
    "Genocide",
    "Antibiotics",
    "IPod",
    "The_Legend_of_Zelda:_Twilight_Princess",
    "Solar_energy",
    "Anthropology",
)
DEV_TITLES = (
    "Normans",
    "Computational_complexity_theory",
    "Amazon_rainforest",
    "Packet_switching",
)
TRAIN_NAME = "squad_train_sample.json"
DEV_NAME = "squad_dev_sample.json"
GLOVE_NAME = "glove.sample.50d.txt"


def sample_words(paths: list[Path]) -> set[str]:
    """Lowercased tokens of every passage, question and answer in ``paths``."""
    words: set[str] = set()
    for path in paths:
        contexts = set()
        for ex in read_squad(path).examples:
            contexts.add(ex.context)
            for text in (ex.question, *ex.answers):
                words.update(w.lower() for w in tokenize(text).words)
        for c in contexts:
            words.update(w.lower() for w in tokenize(c).words)
    return words


def write_glove_subset(src: Path, dst: Path, words: set[str]) -> int:
    """Copy the lines of ``src`` whose word is in ``words``; returns the count."""
    kept = 0
    tmp = dst.with_suffix(dst.suffix + ".tmp")
    with src.open(encoding="utf-8") as fin, tmp.open("w", encoding="utf-8") as fout:
        for line in fin:
            if line.split(" ", 1)[0] in words:
                fout.write(line)
                kept += 1
    tmp.replace(dst)
    return kept


def main(shared: Path, out: Path) -> None:
    """Write the three sample files and log their counts."""
    out.mkdir(parents=True, exist_ok=True)
    n_train = write_squad_subset(shared / "squad" / "train.json", out / TRAIN_NAME, TRAIN_TITLES)
    n_dev = write_squad_subset(shared / "squad" / "dev.json", out / DEV_NAME, DEV_TITLES)
    words = sample_words([out / TRAIN_NAME])
    n_glove = write_glove_subset(
        shared / "glove" / "glove.6B.50d.subset.txt", out / GLOVE_NAME, words)
    logger.info("train: %d questions from %d articles", n_train, len(TRAIN_TITLES))
    logger.info("dev: %d questions from %d articles", n_dev, len(DEV_TITLES))
    logger.info("glove: %d of %d training-sample word types have vectors", n_glove, len(words))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--out", type=Path, default=REPO / "data")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    main(args.shared, args.out)

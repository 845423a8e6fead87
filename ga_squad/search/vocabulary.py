"""The options a reader graph's layers may carry, beyond their type and wiring.

Kept apart from :mod:`ga_squad.search.graph` (the DAG and its validation) and
importing nothing heavy, so the tuner, the data pipeline and the model
compiler all read the same names:

* **input features** (``Layer.features`` of an ``input`` layer): what is
  concatenated to a token's word/char embedding before the projection.
  Column features are precomputed by the data pipeline
  (:mod:`ga_squad.reader.features`, one float column each in
  :data:`FEATURE_COLUMNS`); ``aligned`` is computed by the model (DrQA's
  aligned question embedding) and exists on the passage only.
* **recurrent cell** (``Layer.cell`` of an ``rnn`` layer): ``gru`` or
  ``lstm``; None means :attr:`ga_squad.reader.config.ModelConfig.rnn_cell`.
* **recurrent width** (``Layer.width`` of an ``rnn`` layer): a multiple of
  the stream width, one of :data:`WIDTHS`. A width-``k`` layer runs
  ``k * hidden // 2`` units per direction and projects its ``k * hidden``
  outputs back to ``hidden`` (width 1: no projection), so the
  streams stay ``hidden`` wide and the wider layer fits anywhere. Widening is
  a Net2Wider morphism (exact); narrowing keeps the first units (approximate).
* **pointer kind** (``Layer.pointer`` of an ``output`` layer):
  ``linear`` (a score per passage position), ``bilinear``
  (DrQA: ``p_i W q`` against a question summary, the output's second
  input) or ``conditioned`` (``end`` only: the end pointer reads the begin
  distribution through an extra recurrent layer, like BiDAF's ``M2``).
"""

from __future__ import annotations

# Data columns, in array order (``passage_features``/``question_features``).
FEATURE_COLUMNS = (
    "exact_match",        # the token occurs in the other text, as written
    "exact_match_lower",  # ... lower-cased
    "exact_match_stem",   # ... Porter-stemmed (nltk, no download)
    "is_capitalized",     # first character upper-case
    "is_numeric",         # contains a digit
    "term_freq",          # count in its own text / length of that text
)

# Graph feature name -> the data columns it switches on.
COLUMN_FEATURES: dict[str, tuple[str, ...]] = {
    "exact_match": ("exact_match",),
    "exact_match_lower": ("exact_match_lower",),
    "exact_match_stem": ("exact_match_stem",),
    "token_flags": ("is_capitalized", "is_numeric"),
    "term_freq": ("term_freq",),
}
MODEL_FEATURES = ("aligned",)
FEATURES = (*COLUMN_FEATURES, *MODEL_FEATURES)
PASSAGE_ONLY_FEATURES = frozenset({"aligned"})

CELLS = ("gru", "lstm")
WIDTHS = (1, 2, 4)  # recurrent width multiples; 1 = hidden // 2 units per direction

LINEAR, BILINEAR, CONDITIONED = "linear", "bilinear", "conditioned"
POINTERS = (LINEAR, BILINEAR, CONDITIONED)

SHORT = {
    "exact_match": "em", "exact_match_lower": "eml", "exact_match_stem": "ems",
    "token_flags": "flags", "term_freq": "tf", "aligned": "align",
}


def feature_columns(features: tuple[str, ...] | list[str]) -> tuple[int, ...]:
    """Indices into :data:`FEATURE_COLUMNS` that ``features`` switch on, in column order."""
    wanted = {c for f in features for c in COLUMN_FEATURES.get(f, ())}
    return tuple(i for i, c in enumerate(FEATURE_COLUMNS) if c in wanted)

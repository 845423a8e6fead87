"""Known readers written in the graph encoding: seeds for a search, references for a benchmark.

Each preset is a plain :class:`~ga_squad.search.graph.Graph`, so it can be
trained directly (``trial/trial.py --preset drqa``), mutated, and seed a
search (``search_space: {presets: [...]}`` in the tuner's ``classArgs``).
Widths come from :class:`~ga_squad.reader.config.ModelConfig` (one ``hidden``
for every stream), so a preset reproduces a paper's *wiring*, not its sizes.

``base``
    The project's seed reader: BiRNN encoders, passage-to-question
    multi-head attention with ``[x, a, x*a]`` fusion, one modelling BiRNN,
    independent linear pointers.

``drqa`` (Chen et al. 2017, "Reading Wikipedia to Answer Open-Domain Questions")
    Reproduces: the paragraph input features (exact match as written,
    lower-cased and stemmed -- stemming stands in for DrQA's lemma match --,
    term frequency, and DrQA's aligned question embedding), stacked BiLSTM
    encoders of each stream with *no* passage-question attention layer
    (the question reaches the passage only through the features and the
    pointers), self-attentive question pooling, and bilinear begin/end
    pointers against the question summary.
    Does not reproduce: POS and NER token features (they need nltk tagger
    data that is not available offline; capitalisation and digit flags
    stand in), 3-layer encoders with 128 units per direction (here 2
    passage layers and 1 question layer of ``hidden // 2`` units; an rnn's
    ``width`` 4 gives 128 at ``--size small``, and the search may widen
    them), 300-d GloVe with fine-tuning of the
    1000 most frequent question words, and DrQA's dropout on embeddings.

``bidaf`` (Seo et al. 2017, "Bidirectional Attention Flow for Machine Comprehension")
    Reproduces: char-CNN + word embeddings, a contextual BiLSTM per stream,
    the attention flow layer (trilinear similarity, context-to-query and
    query-to-context attention, ``[c, a, c*a, c*b]``), a two-layer modelling
    BiLSTM, a linear begin pointer and an end pointer that reads the begin
    distribution through an extra BiLSTM (BiDAF's ``M2``).
    Does not reproduce: the highway network, weight tying of the two
    contextual encoders, pointers over ``[G; M]`` (here over ``M``, with
    the fused ``G`` projected to ``hidden`` rather than kept ``8d`` wide),
    and exponential moving averages of the weights.
"""

from __future__ import annotations

from collections.abc import Callable

from ga_squad.search.graph import Graph, Layer, LayerType, Stream, base_reader
from ga_squad.search.vocabulary import BILINEAR, CONDITIONED

__all__ = ["PRESETS", "bidaf_reader", "drqa_reader", "preset"]

Q, P, S = Stream.QUESTION, Stream.PASSAGE, Stream.SUMMARY
DRQA_FEATURES = ("exact_match", "exact_match_lower", "exact_match_stem", "token_flags", "term_freq", "aligned")


def drqa_reader() -> Graph:
    """DrQA's document reader (see the module docstring for what differs)."""
    return Graph((
        Layer("question", LayerType.INPUT, Q),
        Layer("passage", LayerType.INPUT, P, features=DRQA_FEATURES),
        Layer("h0", LayerType.RNN, Q, ("question",), cell="lstm"),
        Layer("h1", LayerType.POOL, S, ("h0",)),
        Layer("h2", LayerType.RNN, P, ("passage",), cell="lstm"),
        Layer("h3", LayerType.RNN, P, ("h2",), cell="lstm"),
        Layer("begin", LayerType.OUTPUT, P, ("h3", "h1"), pointer=BILINEAR),
        Layer("end", LayerType.OUTPUT, P, ("h3", "h1"), pointer=BILINEAR),
    ))


def bidaf_reader() -> Graph:
    """BiDAF (see the module docstring for what differs)."""
    return Graph((
        Layer("question", LayerType.INPUT, Q),
        Layer("passage", LayerType.INPUT, P),
        Layer("h0", LayerType.RNN, Q, ("question",), cell="lstm"),
        Layer("h1", LayerType.RNN, P, ("passage",), cell="lstm"),
        Layer("h2", LayerType.BIDAF, P, ("h1", "h0")),
        Layer("h3", LayerType.RNN, P, ("h2",), cell="lstm"),
        Layer("h4", LayerType.RNN, P, ("h3",), cell="lstm"),
        Layer("begin", LayerType.OUTPUT, P, ("h4",)),
        Layer("end", LayerType.OUTPUT, P, ("h4",), pointer=CONDITIONED),
    ))


PRESETS: dict[str, Callable[[], Graph]] = {
    "base": base_reader,
    "drqa": drqa_reader,
    "bidaf": bidaf_reader,
}


def preset(name: str) -> Graph:
    """A preset graph by name.

    Raises:
        ValueError: for an unknown name (the message lists the known ones).
    """
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {list(PRESETS)}")
    return PRESETS[name]()

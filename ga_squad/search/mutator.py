"""Choosing mutations: the operator table with its weights, and the :class:`Mutator` that draws from it.

The operators themselves (what each edit does to a graph, and why the growing
ones preserve the parent's function) live in :mod:`ga_squad.search.mutations`;
this module decides *which* of them a search uses and how often (the
``search_space`` option restricts layer types, features, pointers and
weights; see :mod:`ga_squad.search.space`).
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence

from ga_squad.search.graph import HIDDEN_TYPES, Graph, LayerType
from ga_squad.search.mutations import (
    AddSkip,
    Identity,
    InsertLayer,
    Mutation,
    MutationOperator,
    RemoveLayer,
    RemoveSkip,
    SetPointer,
    SetWidth,
    SwitchCell,
    ToggleFeature,
)
from ga_squad.search.vocabulary import FEATURES, POINTERS

__all__ = ["DEFAULT_WEIGHTS", "Mutator", "default_operators"]


DEFAULT_WEIGHTS: dict[str, float] = {
    "identity": 0.5, "add_skip": 1.0, "remove_skip": 1.0, "switch_cell": 0.5,
    "widen_rnn": 1.0, "narrow_rnn": 1.0,
    **{f"insert_{k.value}": 1.0 for k in (LayerType.RNN, LayerType.ATTENTION, LayerType.SELF_ATTENTION)},
    **{f"remove_{k.value}": 1.0 for k in (LayerType.RNN, LayerType.ATTENTION, LayerType.SELF_ATTENTION)},
    "insert_bidaf": 1.0, "remove_bidaf": 1.0,
    **{f"feature_{f}": 0.5 for f in FEATURES},
    **{f"pointer_{k}": 0.25 for k in POINTERS},
}
"""Selection weight of every operator by name.

Identity (train the parent further) is less likely: it explores nothing. A feature
toggle is half as likely as a structural edit, so with six features about one
proposal in five touches the inputs: they are the cheapest edits (an exact morphism
of a few zero rows) and the most valuable per parameter (one exact-match bit took the
base reader from 34.9 to 42.5 F1 on the shared data, issue 11; DrQA's ablation
finds the same). Pointer kinds are a quarter as likely: three options, one per head.
Widening and narrowing a recurrent layer weigh like inserting and removing one: they change
capacity as much (NASH and LEMONADE draw deepen, widen and skip alike).
"""


def default_operators(
    weights: Mapping[str, float] | None = None,
    layer_types: Sequence[str] | None = None,
    features: Sequence[str] | None = None,
    pointers: Sequence[str] | None = None,
    exact_only: bool = False,
) -> dict[MutationOperator, float]:
    """Every operator with its selection weight.

    Args:
        weights: Operator name -> weight, overriding :data:`DEFAULT_WEIGHTS`
            (0 switches an operator off).
        layer_types: Hidden layer types the insert/remove operators may use
            (default: all of them).
        features: Input features the toggles may use (default: all).
        pointers: Pointer kinds the pointer operators may set (default: all).
        exact_only: Keep only function-preserving operators (``exact``):
            inserts, skips, widening, feature additions, linear -> conditioned
            end pointer and identity. Every child then starts at its parent's
            function, so a lineage never loses what it has trained.

    Raises:
        ValueError: for an unknown operator name, layer type, feature or
            pointer kind, or a negative weight; with ``exact_only``, for a
            positive weight given to an operator it never draws (a config
            that asks for removals and forbids them is a mistake to name,
            not to ignore).
    """
    table = dict(DEFAULT_WEIGHTS)
    for name, weight in (weights or {}).items():
        if name not in table:
            raise ValueError(f"unknown mutation {name!r}; expected some of {list(table)}")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            raise ValueError(f"mutation {name!r} needs a non-negative weight, got {weight!r}")
        table[name] = float(weight)
    hidden = {t.value: t for t in HIDDEN_TYPES}
    kinds = _subset("layer type", layer_types, sorted(hidden))
    chosen_features = _subset("feature", features, FEATURES)
    chosen_pointers = _subset("pointer kind", pointers, POINTERS)
    ops: dict[MutationOperator, float] = {
        Identity(): table["identity"], AddSkip(): table["add_skip"], RemoveSkip(): table["remove_skip"]}
    for kind in sorted(kinds):
        ops[InsertLayer(hidden[kind])] = table[f"insert_{kind}"]
        ops[RemoveLayer(hidden[kind])] = table[f"remove_{kind}"]
    if "rnn" in kinds:
        ops[SwitchCell()] = table["switch_cell"]
        ops[SetWidth(widen=True)] = table["widen_rnn"]
        ops[SetWidth(widen=False)] = table["narrow_rnn"]
    for feature in chosen_features:
        ops[ToggleFeature(feature, add_only=exact_only)] = table[f"feature_{feature}"]
    for kind in chosen_pointers:
        ops[SetPointer(kind, exact_only=exact_only)] = table[f"pointer_{kind}"]
    if not exact_only:
        return ops
    dropped = sorted(op.name for op in ops if not op.exact and (weights or {}).get(op.name, 0) > 0)
    if dropped:
        raise ValueError(f"search_space.exact_only draws only function-preserving edits, but mutations gives "
                         f"a weight to {dropped}, which it never draws; set them to 0 or drop exact_only")
    return {op: w for op, w in ops.items() if op.exact}


def _subset(what: str, chosen: Sequence[str] | None, known: Sequence[str]) -> tuple[str, ...]:
    if chosen is None:
        return tuple(known)
    unknown = [c for c in chosen if c not in known]
    if unknown:
        raise ValueError(f"unknown {what}(s) {unknown}; expected some of {list(known)}")
    return tuple(c for c in known if c in chosen)


class Mutator:
    """Applies one randomly chosen operator, within hidden-layer bounds.

    Args:
        min_layers: Fewest hidden layers a result may have (>= 1: a reader
            needs an attention layer to see the question).
        max_layers: Most hidden layers a result may have.
        operators: Operator -> weight; defaults to :func:`default_operators`.
        max_tries: Operators tried before falling back to identity.
    """

    def __init__(
        self,
        min_layers: int = 1,
        max_layers: int = 12,
        operators: Mapping[MutationOperator, float] | None = None,
        max_tries: int = 20,
    ) -> None:
        if min_layers < 1:
            raise ValueError(f"min_layers must be >= 1 (a reader needs an attention layer), got {min_layers}")
        if max_layers < min_layers:
            raise ValueError(f"max_layers ({max_layers}) must be >= min_layers ({min_layers})")
        if max_tries < 1:
            raise ValueError(f"max_tries must be >= 1, got {max_tries}")
        self.min_layers = min_layers
        self.max_layers = max_layers
        self.operators = dict(operators if operators is not None else default_operators())
        if not self.operators or any(w < 0 for w in self.operators.values()):
            raise ValueError("operators need non-negative weights and at least one entry")
        self.max_tries = max_tries

    def mutate(self, graph: Graph, rng: random.Random, edits_only: bool = False) -> Mutation:
        """One mutation of ``graph``; identity when no operator applies.

        ``edits_only`` leaves the :class:`Identity` operator out of the draw
        (a controlled brood already has its unchanged child).
        """
        count = len(graph.hidden_layers)
        allowed = {
            op: w for op, w in self.operators.items()
            if w > 0 and (op.delta >= 0 or count + op.delta >= self.min_layers)
            and (op.delta <= 0 or count + op.delta <= self.max_layers)
            and not (edits_only and isinstance(op, Identity))
        }
        for _ in range(self.max_tries):
            if not allowed:
                break
            ops = list(allowed)
            op = rng.choices(ops, weights=[allowed[o] for o in ops])[0]
            result = op.apply(graph, rng)
            if result is not None:
                return result
            del allowed[op]  # nothing to act on: no point drawing it again.
        return Mutation(graph, "identity", "no operator applied")

    def mutate_many(self, graph: Graph, rng: random.Random, steps: int, away: bool = False) -> Mutation:
        """A chain of ``steps`` mutations (used to diversify the initial population).

        ``away`` redraws (a bounded number of times) a chain that ends where it
        started (an insert then its removal, a widen then a narrow): a cold
        start meant to differ from its seed would otherwise re-measure it.
        """
        for _ in range(self.max_tries if away and steps else 1):
            chain = self._chain(graph, rng, steps)
            if not away or chain.graph.fingerprint() != graph.fingerprint():
                break
        return chain

    def _chain(self, graph: Graph, rng: random.Random, steps: int) -> Mutation:
        ops: list[str] = []
        for _ in range(steps):
            step = self.mutate(graph, rng)
            graph = step.graph
            ops.append(step.operator if not step.detail else f"{step.operator}({step.detail})")
        return Mutation(graph, "chain", "; ".join(ops))

"""What a search may explore: seed presets, layer types, features, pointers, mutation weights.

The tuner's ``classArgs`` carry it as one ``search_space`` mapping (every key
optional)::

    search_space:
      presets: [base, drqa, bidaf]    # cold starts cycle through these (default [base])
      mutate_presets: true            # mutate cold starts initial_mutations times (default true;
                                      # the first cold start of each preset is always kept as is)
      layer_types: [rnn, attention, self_attention, bidaf]   # insert/remove may use these
      features: [exact_match, term_freq, aligned, ...]       # input features toggles may use
      pointers: [linear, bilinear, conditioned]               # pointer kinds mutations may set
      mutations: {identity: 0.5, insert_bidaf: 2.0, switch_cell: 0}  # weights by operator name
      exact_only: false               # only function-preserving edits (no removals, narrowing,
                                      # cell switches or non-exact pointer changes)

The engine takes the result as its strategy factory
(:meth:`SearchSpace.strategy`), so neither the engine nor the evolution code
knows about presets.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ga_squad.search.evolution import EvolutionConfig, RegularizedEvolution
from ga_squad.search.graph import Graph
from ga_squad.search.mutations import Mutation
from ga_squad.search.mutator import Mutator, default_operators
from ga_squad.search.presets import preset

__all__ = ["SEARCH_SPACE_KEYS", "SearchSpace", "SeededEvolution"]

SEARCH_SPACE_KEYS = ("presets", "mutate_presets", "layer_types", "features", "pointers", "mutations", "exact_only")


def _names(key: str, value: Any) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"search_space.{key} must be a list of names, got {value!r}")
    return tuple(value)


@dataclass(frozen=True)
class SearchSpace:
    """The parsed ``search_space`` option.

    Attributes:
        presets: Names of the preset graphs cold starts are drawn from, in turn.
        mutate_presets: Mutate cold starts after the first round of unmodified presets.
        layer_types: Hidden layer types (None: all).
        features: Input features (None: all).
        pointers: Pointer kinds (None: all).
        mutations: Operator weights overriding the defaults.
        exact_only: Draw only function-preserving edits
            (:func:`~ga_squad.search.mutator.default_operators`).
    """

    presets: tuple[str, ...] = ("base",)
    mutate_presets: bool = True
    layer_types: tuple[str, ...] | None = None
    features: tuple[str, ...] | None = None
    pointers: tuple[str, ...] | None = None
    mutations: Mapping[str, float] = field(default_factory=dict)
    exact_only: bool = False

    def __post_init__(self) -> None:
        if not self.presets:
            raise ValueError("search_space.presets must name at least one preset")
        for name in self.presets:
            preset(name)  # raises with the list of known presets
        self.operators()  # raises on unknown names and bad weights

    @classmethod
    def from_dict(cls, data: Mapping[str, Any] | None) -> SearchSpace:
        """Parse the tuner option; unknown keys fail with the list of known ones."""
        data = dict(data or {})
        unknown = sorted(set(data) - set(SEARCH_SPACE_KEYS))
        if unknown:
            raise ValueError(f"unknown search_space key(s) {unknown}; expected some of {list(SEARCH_SPACE_KEYS)}")
        mutations = data.get("mutations") or {}
        if not isinstance(mutations, Mapping):
            raise ValueError(f"search_space.mutations must map operator names to weights, got {mutations!r}")
        flags = {key: data.get(key, default) for key, default in (("mutate_presets", True), ("exact_only", False))}
        for key, value in flags.items():
            if not isinstance(value, bool):
                raise ValueError(f"search_space.{key} must be true or false, got {value!r}")
        return cls(
            presets=_names("presets", data.get("presets")) or ("base",),
            mutate_presets=flags["mutate_presets"],
            layer_types=_names("layer_types", data.get("layer_types")),
            features=_names("features", data.get("features")),
            pointers=_names("pointers", data.get("pointers")),
            mutations=dict(mutations),
            exact_only=flags["exact_only"],
        )

    def operators(self) -> dict:
        return default_operators(self.mutations, self.layer_types, self.features, self.pointers,
                                 exact_only=self.exact_only)

    def mutator(self, config: EvolutionConfig) -> Mutator:
        return Mutator(config.min_layers, config.max_layers, operators=self.operators())

    def seeds(self) -> tuple[Graph, ...]:
        return tuple(preset(name) for name in self.presets)

    def strategy(self, config: EvolutionConfig):
        """The engine's strategy factory (session stream -> evolution)."""
        def build(stream: int) -> RegularizedEvolution:
            return SeededEvolution(config, self.seeds(), stream=stream, mutator=self.mutator(config),
                                   mutate=self.mutate_presets)
        return build


class SeededEvolution(RegularizedEvolution):
    """Regularized evolution whose cold starts cycle through several seed graphs.

    The first cold start of each seed is the seed itself (so every preset is
    measured as published); later ones are mutated ``initial_mutations``
    times when ``mutate`` is set, by a chain that does not end at the seed.
    """

    def __init__(self, config: EvolutionConfig, seeds: tuple[Graph, ...], stream: int = 0,
                 mutator: Mutator | None = None, mutate: bool = True) -> None:
        super().__init__(config, stream=stream, mutator=mutator, base=seeds[0])
        self.seeds = seeds
        self.mutate = mutate
        self._proposed = 0

    def propose_initial(self) -> Mutation:
        index = self._proposed
        self._proposed += 1
        seed = self.seeds[index % len(self.seeds)]
        if index < len(self.seeds) or not self.mutate:
            return Mutation(seed, "preset", "")
        return self.mutator.mutate_many(seed, self.rng, self.config.initial_mutations, away=True)

"""``seeded_search.py --mutations NAME=WEIGHT``: parsed into the search space, bad items named."""

from __future__ import annotations

import pytest

from benchmarks.seeded_search import mutation_weights, parse_args
from ga_squad.search.space import SearchSpace


def test_mutation_weights_reach_the_search_space() -> None:
    args = parse_args(["--mutations", "widen_rnn=4", "--mutations", "narrow_rnn=0"])
    weights = mutation_weights(args.mutations)
    assert weights == {"widen_rnn": 4.0, "narrow_rnn": 0.0}
    space = SearchSpace.from_dict({"presets": ["drqa"], "mutations": weights})
    assert space.mutations == weights


@pytest.mark.parametrize("item", ["widen_rnn", "widen_rnn=wide", "=2"])
def test_a_malformed_weight_is_refused_naming_it(item: str) -> None:
    with pytest.raises(SystemExit, match=f"--mutations '{item}': expected NAME=WEIGHT"):
        mutation_weights([item])

"""Regularized evolution: config validation, aging, tournament selection, determinism."""

from __future__ import annotations

import pytest

from ga_squad.search.evolution import (
    EvolutionConfig,
    Individual,
    OptimizeMode,
    RegularizedEvolution,
    Status,
    parse_result,
)
from ga_squad.search.graph import base_reader


def reported(indiv_id: int, result: float) -> Individual:
    return Individual(indiv_id, None, base_reader(), None, status=Status.REPORTED, result=result)


@pytest.mark.parametrize("field,value", [
    ("population_size", 0), ("tournament_size", 0), ("min_layers", 0),
    ("initial_mutations", -1), ("population_size", True), ("seed", 1.5), ("siblings", 0),
])
def test_config_rejects_bad_values(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        EvolutionConfig(**{field: value})


def test_config_rejects_inverted_layer_bounds() -> None:
    with pytest.raises(ValueError, match="max_layers"):
        EvolutionConfig(min_layers=5, max_layers=2)


def test_config_accepts_mode_strings() -> None:
    assert EvolutionConfig(optimize_mode="minimize").optimize_mode is OptimizeMode.MINIMIZE
    with pytest.raises(ValueError):
        EvolutionConfig(optimize_mode="sideways")


def test_individual_invariants() -> None:
    with pytest.raises(ValueError, match="both None"):
        Individual(1, 0, base_reader(), None)
    with pytest.raises(ValueError, match="without a result"):
        Individual(1, None, base_reader(), None, status=Status.REPORTED)


def test_aging_removes_the_oldest_even_if_best() -> None:
    evo = RegularizedEvolution(EvolutionConfig(population_size=3))
    evo.add_reported(reported(0, 0.99))
    evo.add_reported(reported(1, 0.1))
    evo.add_reported(reported(2, 0.2))
    removed = evo.add_reported(reported(3, 0.3))
    assert removed is not None and removed.indiv_id == 0
    assert [m.indiv_id for m in evo.population] == [1, 2, 3]


def test_late_results_join_by_birth_order() -> None:
    """Age is birth order: a late result of an old individual is not the youngest member."""
    evo = RegularizedEvolution(EvolutionConfig(population_size=3))
    for indiv_id in (2, 5, 7):
        evo.add_reported(reported(indiv_id, 0.5))
    removed = evo.add_reported(reported(4, 0.9))  # older than 5 and 7, younger than 2
    assert removed is not None and removed.indiv_id == 2
    assert [m.indiv_id for m in evo.population] == [4, 5, 7]
    oldest = reported(1, 0.99)
    assert evo.add_reported(oldest) is oldest  # older than every member: in and out at once
    assert [m.indiv_id for m in evo.population] == [4, 5, 7]
    evo.restore([reported(9, 0.1), reported(3, 0.2), reported(6, 0.3), reported(8, 0.4)])
    assert [m.indiv_id for m in evo.population] == [6, 8, 9]


def test_without_aging_the_worst_is_removed() -> None:
    evo = RegularizedEvolution(EvolutionConfig(population_size=3, aging=False))
    for i, r in enumerate((0.99, 0.1, 0.2, 0.3)):
        evo.add_reported(reported(i, r))
    assert sorted(m.indiv_id for m in evo.population) == [0, 2, 3]


def test_only_reported_individuals_join() -> None:
    evo = RegularizedEvolution(EvolutionConfig())
    with pytest.raises(ValueError, match="reported"):
        evo.add_reported(Individual(0, None, base_reader(), None))


def test_select_parent_empty_population_is_none() -> None:
    assert RegularizedEvolution(EvolutionConfig()).select_parent() is None


@pytest.mark.parametrize("mode,expected", [("maximize", 4), ("minimize", 0)])
def test_full_tournament_picks_the_best(mode: str, expected: int) -> None:
    evo = RegularizedEvolution(EvolutionConfig(population_size=5, tournament_size=5, optimize_mode=mode))
    for i in range(5):
        evo.add_reported(reported(i, float(i)))
    assert evo.select_parent().indiv_id == expected


def child(indiv_id: int, parent_id: int, result: float) -> Individual:
    return Individual(indiv_id, parent_id, base_reader(), frozenset(), status=Status.REPORTED, result=result)


def test_siblings_keep_the_parent_for_a_brood_even_when_a_child_beats_it() -> None:
    """With ``siblings`` 3 the next three children share a parent; the fourth selection sees them side by side."""
    evo = RegularizedEvolution(EvolutionConfig(population_size=4, tournament_size=4, aging=False, siblings=3))
    for i, value in enumerate((5.0, 1.0, 2.0)):
        evo.add_reported(reported(i, value))
    parents = [evo.select_parent().indiv_id]
    evo.add_reported(child(3, 0, 9.0))  # the first sibling beats its parent
    parents.append(evo.select_parent().indiv_id)
    evo.add_reported(child(4, 0, 7.0))
    parents.append(evo.select_parent().indiv_id)
    evo.add_reported(child(5, 0, 8.0))
    parents.append(evo.select_parent().indiv_id)  # a new brood: the best sibling
    assert parents == [0, 0, 0, 3]


def test_without_siblings_the_best_child_is_the_next_parent() -> None:
    evo = RegularizedEvolution(EvolutionConfig(population_size=4, tournament_size=4, aging=False))
    for i, value in enumerate((5.0, 1.0, 2.0)):
        evo.add_reported(reported(i, value))
    assert evo.select_parent().indiv_id == 0
    evo.add_reported(child(3, 0, 9.0))
    assert evo.select_parent().indiv_id == 3


def test_a_brood_ends_when_its_parent_leaves_the_population() -> None:
    evo = RegularizedEvolution(EvolutionConfig(population_size=2, tournament_size=2, aging=False, siblings=5))
    evo.add_reported(reported(0, 3.0))
    evo.add_reported(reported(1, 1.0))
    assert evo.select_parent().indiv_id == 0
    evo.add_reported(child(2, 0, 4.0))  # population 2: the worst (1) leaves, the parent stays
    assert evo.select_parent().indiv_id == 0
    removed = evo.add_reported(child(3, 0, 5.0))
    assert removed is not None and removed.indiv_id == 0  # the parent itself left
    assert evo.select_parent().indiv_id == 3


def test_a_restored_population_starts_a_new_brood() -> None:
    evo = RegularizedEvolution(EvolutionConfig(population_size=3, tournament_size=3, aging=False, siblings=3))
    members = [reported(0, 5.0), child(1, 0, 6.0)]
    evo.restore([members[0]])
    assert evo.select_parent().indiv_id == 0
    evo.restore(members)
    assert evo.select_parent().indiv_id == 1


def test_a_control_brood_starts_with_the_unchanged_parent_then_mutates() -> None:
    """``control``: the first child of each brood is the parent's graph; its siblings are real edits."""
    evo = RegularizedEvolution(EvolutionConfig(population_size=3, tournament_size=3, aging=False,
                                               siblings=3, control=True, seed=4))
    for i, value in enumerate((5.0, 1.0, 2.0)):
        evo.add_reported(reported(i, value))
    operators = []
    for indiv_id, result in ((3, 6.0), (4, 7.0), (5, 3.0), (6, 8.0)):
        parent = evo.select_parent()
        mutation = evo.make_child(parent)
        operators.append(mutation.operator)
        if mutation.operator == "identity":
            assert mutation.graph == parent.graph and mutation.detail.startswith("control")
        else:
            assert mutation.graph.hash_ids != parent.graph.hash_ids
        evo.add_reported(child(indiv_id, parent.indiv_id, result))
    assert operators[0] == "identity" and operators[3] == "identity"  # one control per brood
    assert "identity" not in operators[1:3]


def test_with_control_the_edit_children_are_never_a_drawn_identity() -> None:
    """The operator table gives ``identity`` a weight; under a control it would duplicate it, so it is redrawn."""
    from ga_squad.search.mutator import Mutator, default_operators

    only_identity_or_skip = Mutator(1, 12, operators={op: w for op, w in default_operators().items()
                                                      if op.name in ("identity", "add_skip")})
    evo = RegularizedEvolution(EvolutionConfig(population_size=1, tournament_size=1, aging=False,
                                               siblings=40, control=True), mutator=only_identity_or_skip)
    evo.add_reported(reported(0, 1.0))
    parent = evo.select_parent()
    assert evo.make_child(parent).operator == "identity"  # the control
    edits = []
    for _ in range(30):
        edits.append(evo.make_child(evo.select_parent()).operator)
    assert set(edits) == {"add_skip"}


def test_without_control_a_brood_has_no_forced_identity() -> None:
    evo = RegularizedEvolution(EvolutionConfig(population_size=3, tournament_size=3, aging=False,
                                               siblings=3, seed=4))
    for i, value in enumerate((5.0, 1.0, 2.0)):
        evo.add_reported(reported(i, value))
    parent = evo.select_parent()
    assert evo.make_child(parent).operator != "identity"


def test_control_needs_siblings() -> None:
    with pytest.raises(ValueError, match="siblings >= 2"):
        EvolutionConfig(control=True)
    with pytest.raises(ValueError, match="control"):
        EvolutionConfig(siblings=2, control=1)


def test_tournament_larger_than_population_is_clamped() -> None:
    evo = RegularizedEvolution(EvolutionConfig(population_size=10, tournament_size=50))
    evo.add_reported(reported(0, 1.0))
    assert evo.select_parent().indiv_id == 0


def test_same_seed_same_proposals() -> None:
    def run(seed: int) -> list[str]:
        evo = RegularizedEvolution(EvolutionConfig(seed=seed, population_size=2))
        out = [evo.propose_initial().graph.fingerprint() for _ in range(3)]
        evo.add_reported(reported(0, 1.0))
        out += [evo.make_child(evo.select_parent()).graph.fingerprint() for _ in range(3)]
        return out

    assert run(7) == run(7)
    assert run(7) != run(8)


def test_streams_differ_but_are_deterministic() -> None:
    a = RegularizedEvolution(EvolutionConfig(seed=3), stream=1).propose_initial().graph.fingerprint()
    b = RegularizedEvolution(EvolutionConfig(seed=3), stream=1).propose_initial().graph.fingerprint()
    assert a == b


def test_children_respect_layer_bounds() -> None:
    config = EvolutionConfig(min_layers=2, max_layers=4, seed=1)
    evo = RegularizedEvolution(config)
    graph = evo.propose_initial().graph
    for _ in range(50):
        parent = Individual(0, None, graph, None, status=Status.REPORTED, result=0.0)
        graph = evo.make_child(parent).graph
        assert 2 <= len(graph.hidden_layers) <= 4


@pytest.mark.parametrize("value,scalar", [(0.5, 0.5), (3, 3.0), ({"default": 0.7, "f1": 0.7}, 0.7)])
def test_parse_result_accepts_numbers_and_default_dicts(value: object, scalar: float) -> None:
    got, metrics = parse_result(value)
    assert got == scalar and metrics["default"] == value if not isinstance(value, dict) else metrics == value


@pytest.mark.parametrize("value", [float("nan"), float("inf"), "0.5", None, True, {"f1": 0.5}, {"default": "x"}])
def test_parse_result_rejects_unrankable_values(value: object) -> None:
    with pytest.raises(ValueError):
        parse_result(value)


def test_parse_result_ranks_by_the_configured_fitness() -> None:
    got, metrics = parse_result({"default": 12.0, "val_loss": 7.5}, "val_loss")
    assert got == 7.5 and metrics["default"] == 12.0
    with pytest.raises(ValueError, match="lacks the fitness 'val_loss'"):
        parse_result({"default": 12.0}, "val_loss")


def test_a_loss_fitness_is_minimised_whatever_optimize_mode_says() -> None:
    """optimize_mode also sorts NNI's displayed F1; a loss fitness is ranked lower-is-better regardless."""
    loss = EvolutionConfig(fitness="val_loss")
    assert loss.rank_mode.value == "minimize" and loss.better(7.5, 8.0)
    assert EvolutionConfig().better(15.0, 12.0)
    with pytest.raises(ValueError, match="fitness"):
        EvolutionConfig(fitness="")


def test_siblings_of_a_brood_are_distinct_readers() -> None:
    """Widening the same layer twice in one brood would re-measure one reader: the edit is redrawn."""
    from ga_squad.search.layer import LayerType
    from ga_squad.search.mutator import Mutator, default_operators

    rnns = [l.id for l in base_reader().hidden_layers if l.type is LayerType.RNN]
    assert len(rnns) >= 2
    only_widen = Mutator(1, 12, operators={op: w for op, w in default_operators().items() if op.name == "widen_rnn"})
    for seed in range(8):
        evo = RegularizedEvolution(EvolutionConfig(population_size=1, tournament_size=1, aging=False,
                                                   siblings=len(rnns) + 2, control=True, seed=seed),
                                   mutator=only_widen)
        evo.add_reported(reported(0, 1.0))
        brood = [evo.make_child(evo.select_parent()) for _ in range(len(rnns) + 1)]
        assert brood[0].operator == "identity"
        widened = [m.detail.split(":")[0] for m in brood[1:]]
        assert sorted(widened) == sorted(rnns)  # every rnn once, none twice
        assert len({m.graph.fingerprint() for m in brood}) == len(brood)
        extra = evo.make_child(evo.select_parent())  # no distinct edit left: a duplicate, not a hang
        assert extra.operator == "widen_rnn"
        evo.add_reported(Individual(1, 0, brood[1].graph, frozenset(), status=Status.REPORTED, result=2.0))
        evo.add_reported(Individual(2, 0, brood[2].graph, frozenset(), status=Status.REPORTED, result=3.0))
        # A new brood (of the best member) may propose what the last brood did.
        fresh = [evo.make_child(evo.select_parent()) for _ in range(3)]
        assert fresh[0].operator == "identity" and fresh[1].graph != fresh[2].graph

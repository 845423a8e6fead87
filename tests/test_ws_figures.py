"""The weight-sharing benchmark's figures from hand-made trial lists (no TensorFlow)."""

from __future__ import annotations

import math
from typing import Any

from benchmarks import ws_figures as wf


def trial(indiv: int, f1: float | None, epochs: int = 1, parent: int | None = None, initial: float = 0.0,
          mutation: str = "", warm: bool = False, **keys: Any) -> dict[str, Any]:
    return {"indiv_id": indiv, "parent_id": parent, "f1": f1, "initial_f1": initial, "epochs": epochs,
            "mutation": mutation, "warm_start": warm, **keys}


SHARING = [trial(0, 5.0), trial(1, 6.0), trial(2, 9.0, parent=1, initial=5.8, mutation="insert_rnn(h1->[h4]->h2)",
                                                 warm=True),
           trial(3, 8.0, parent=2, initial=4.0, mutation="remove_rnn(h4)", warm=True), trial(4, None)]


def test_compute_to_target_counts_trial_epochs_and_not_reached() -> None:
    cold = {1: [trial(i, f) for i, f in enumerate([5.0, 6.0, 7.0, 8.0, 9.5])],
            2: [trial(i, f, epochs=2) for i, f in enumerate([7.0, 8.5])],
            4: [trial(0, 8.0, epochs=3)]}  # early-stopped after 3 of 4 epochs
    out = wf.compute_to_target(SHARING, cold)
    assert out["target"] == 9.0 and out["sharing_epochs_to_best"] == 3 and out["sharing_epochs"] == 5
    assert out["cold"]["1"]["epochs_to_target"] == 5 and math.isclose(out["cold"]["1"]["multiple"], 5 / 3)
    assert out["cold"]["2"]["epochs_to_target"] == math.inf and out["cold"]["2"]["epochs_spent"] == 4
    assert out["cold"]["4"]["best"] == 8.0
    assert math.isclose(out["min_multiple"], 5 / 3)


def test_child_starts_by_kind_and_the_growing_share_near_the_parent() -> None:
    starts = wf.child_starts(SHARING)
    assert [(s["kind"], s["gap"]) for s in starts] == [("insert_rnn", 6.0 - 5.8), ("remove_rnn", 9.0 - 4.0)]
    kinds = wf.starts_by_kind(starts)
    assert kinds["growing"]["n"] == 1 and kinds["growing"]["within_half_f1"] == 1.0
    assert kinds["all"]["within_half_f1"] == 0.5 and kinds["all"]["median_gap"] == (0.2 + 5.0) / 2


def test_validation_keys_win_over_the_old_ones() -> None:
    trials = [trial(0, 99.0, val_f1=4.0), trial(1, 1.0, val_f1=6.0)]
    assert wf.curve(trials) == ([1.0, 2.0], [4.0, 6.0])
    assert wf.best_at_budget([1.0, 2.0], [4.0, 6.0], 1.5) == 4.0 and wf.best_at_budget([1.0], [4.0], 0.5) == -math.inf


def test_feature_toggles_count_as_growing_only_when_they_add() -> None:
    added, removed = wf.mutation_kind("feature_aligned(+aligned@passage)"), wf.mutation_kind("feature_aligned(-aligned@passage)")
    assert (added, removed) == ("feature_aligned+", "feature_aligned-")
    assert wf.is_growing(added) and not wf.is_growing(removed)
    assert wf.mutation_kind("insert_rnn(h3->[h8]->begin)") == "insert_rnn" and wf.is_growing("insert_rnn")
    assert not wf.is_growing(wf.mutation_kind("switch_cell(h2:gru->lstm)"))

"""The lineage legend names what is drawn; warm-vs-cold labels sit above the dots they describe."""

from __future__ import annotations

import pytest
from matplotlib.patches import FancyArrowPatch

from tiny_search import TinySearch, tiny_search


def _analysis():  # noqa: ANN202 - (load_search, f1_by_id, warm_vs_cold) wherever the analysis package keeps them
    try:  # the analysis package split into modules
        from ga_squad.analysis.leaderboard import f1_by_id
        from ga_squad.analysis.search_dir import load_search
        from ga_squad.analysis.warm_cold import warm_vs_cold
    except ImportError:  # before the split
        from ga_squad.analysis.report import f1_by_id, load_search, warm_vs_cold
    return load_search, f1_by_id, warm_vs_cold


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> TinySearch:
    return tiny_search(tmp_path_factory)


def _style(linestyle: object) -> str:
    return "dashed" if linestyle in ("--", "dashed") or (isinstance(linestyle, tuple) and linestyle[1]) else "solid"


def test_lineage_legend_names_every_drawn_edge_style_and_node_kind(tiny: TinySearch) -> None:
    from ga_squad.analysis import plots

    load_search, _, _ = _analysis()
    fig = plots.plot_lineage(load_search(tiny.search_dir))
    ax = fig.axes[0]
    drawn = {_style(p.get_linestyle()) for p in ax.patches if isinstance(p, FancyArrowPatch)}
    assert drawn  # the tiny search has children
    legend = ax.get_legend()
    assert legend is not None
    styles = {_style(h.get_linestyle()) for h in legend.legend_handles if h.get_marker() in ("None", "", None)}
    assert drawn <= styles
    labels = [t.get_text() for t in legend.get_texts()]
    assert any("cold start" in label for label in labels) and "dashed: cold start" not in ax.get_title()
    assert any("no result" in label for label in labels)


def test_warm_cold_labels_are_above_every_dot(tiny: TinySearch) -> None:
    from ga_squad.analysis import plots

    load_search, f1_by_id, warm_vs_cold = _analysis()
    search = load_search(tiny.search_dir)
    fig = plots.plot_warm_vs_cold(warm_vs_cold(search), f1_by_id(search))
    ax = fig.axes[0]
    dots = [tuple(xy) for coll in ax.collections for xy in coll.get_offsets()]
    labels = [t for t in ax.texts if "(n=" in t.get_text()]
    assert labels and dots
    for label in labels:
        x, y = label.xy
        below = [dy for dx, dy in dots if abs(dx - x) < 1e-9]
        assert below and y >= max(below) and label.get_zorder() > 3


def test_every_figure_says_it_plots_validation_f1(tiny: TinySearch) -> None:
    """The figures plot each trial's validation F1 (``record_f1``): their axes, titles and colour bars say so."""
    from ga_squad.analysis import plots
    from ga_squad.analysis.leaderboard import trial_curve
    from ga_squad.analysis.search_dir import record_dev_scores, record_f1

    load_search, f1_by_id, warm_vs_cold = _analysis()
    search = load_search(tiny.search_dir)
    points = trial_curve(search)
    assert [p.f1 for p in points] == [record_f1(search.records[p.indiv_id]) for p in points]
    assert any(p.f1 != record_dev_scores(search.records[p.indiv_id])[0] for p in points)  # not the dev F1
    figures = [plots.plot_f1_over_trials(points), plots.plot_lineage(search),
               plots.plot_warm_vs_cold(warm_vs_cold(search), f1_by_id(search))]
    for fig in figures:
        texts = [t for ax in fig.axes for t in (ax.get_ylabel(), ax.get_title())]
        texts += [t.get_text() for ax in fig.axes if ax.get_legend() for t in ax.get_legend().get_texts()]
        assert not any("dev F1" in t for t in texts), texts
        assert any("validation F1" in t for t in texts), texts

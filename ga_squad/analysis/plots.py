"""Figures of a search (matplotlib, Agg backend; no graphviz, no networkx).

Each function returns a :class:`matplotlib.figure.Figure` built without
pyplot (no global state, no GUI backend: rendering goes through Agg), so the
CLI can save it and a notebook can display its PNG (:func:`png_bytes`).
Layouts are computed here: the lineage tree is layered by generation, the
architecture by depth from the inputs with one column per stream.
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch, Patch
from matplotlib.ticker import MaxNLocator

from ga_squad.analysis.leaderboard import TrialPoint, f1_by_id
from ga_squad.analysis.lineage import lineage_edges
from ga_squad.analysis.search_dir import Search
from ga_squad.analysis.warm_cold import PairedChild, WarmColdComparison
from ga_squad.search.graph import Graph, LayerType, Stream, layer_label

__all__ = [
    "architecture_layout",
    "lineage_layout",
    "plot_architecture",
    "plot_f1_over_trials",
    "plot_lineage",
    "plot_paired_children",
    "plot_warm_vs_cold",
    "png_bytes",
    "save_figure",
]

WARM_COLOR = "tab:orange"
COLD_COLOR = "tab:blue"
LAYER_COLORS = {
    LayerType.INPUT: "#d9d9d9",
    LayerType.OUTPUT: "#fdd49e",
    LayerType.RNN: "#9ecae1",
    LayerType.SELF_ATTENTION: "#a1d99b",
    LayerType.ATTENTION: "#bcbddc",
    LayerType.BIDAF: "#dadaeb",
    LayerType.POOL: "#fee391",
}


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 110) -> Path:
    """Save a figure as PNG (or whatever the suffix says) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return path


def png_bytes(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes (for ``IPython.display.Image``)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    return buffer.getvalue()


# --- F1 over trials -------------------------------------------------------------
def plot_f1_over_trials(points: Sequence[TrialPoint]) -> Figure:
    """Validation F1 per trial in trial order, the running best, warm and cold starts marked.

    Validation F1, not the dev set's: ``TrialPoint.f1`` is what a trial
    scored on the articles held out of the training file.
    """
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    if not points:
        ax.text(0.5, 0.5, "no trial has reported yet", ha="center", va="center", transform=ax.transAxes)
    else:
        for warm, color, marker, label in ((True, WARM_COLOR, "o", "warm-started (weights inherited)"),
                                           (False, COLD_COLOR, "s", "cold-started")):
            sel = [p for p in points if p.warm_start is warm]
            if sel:
                ax.scatter([p.position for p in sel], [p.f1 for p in sel], c=color, marker=marker,
                           label=label, zorder=3)
        ax.step([p.position for p in points], [p.best_so_far for p in points], where="post",
                color="black", label="best validation F1 so far", zorder=2)
        for p in points:
            ax.annotate(str(p.indiv_id), (p.position, p.f1), textcoords="offset points", xytext=(3, 4),
                        fontsize=7)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("trial (order results arrived)")
    ax.set_ylabel("validation F1")
    ax.set_title("Validation F1 over trials")
    ax.grid(alpha=0.3)
    return fig


# --- lineage tree ---------------------------------------------------------------
def lineage_layout(parents: Mapping[int, int | None]) -> dict[int, tuple[float, float]]:
    """Layered positions of a forest: y = -generation, x by order within a layer.

    Args:
        parents: indiv_id -> parent id (None, or an id not in the mapping,
            makes a root), in generation order.

    Returns:
        indiv_id -> (x, y). Within a layer, nodes are ordered by their
        parent's x, then id, so children sit under their parents' side.
    """
    depth: dict[int, int] = {}
    for node, parent in parents.items():
        depth[node] = depth[parent] + 1 if parent is not None and parent in depth else 0
    pos: dict[int, tuple[float, float]] = {}
    for level in range(max(depth.values(), default=-1) + 1):
        nodes = [n for n in parents if depth[n] == level]
        parent_x = {n: pos[parents[n]][0] if parents[n] in pos else -1.0 for n in nodes}  # type: ignore[index]
        nodes.sort(key=lambda n: (parent_x[n], n))
        width = len(nodes)
        for i, n in enumerate(nodes):
            pos[n] = (i - (width - 1) / 2.0, -float(level))
    return pos


def plot_lineage(search: Search) -> Figure:
    """The lineage tree: parent -> child edges labelled with the inherited
    fraction of weights, nodes coloured by validation F1 (grey: no result)."""
    records = search.records
    pos = lineage_layout({i: r.parent_id for i, r in records.items()})
    width = max([1] + [sum(1 for p in pos.values() if p[1] == y) for y in {p[1] for p in pos.values()}])
    levels = 1 + int(-min([0.0] + [p[1] for p in pos.values()]))
    fig = Figure(figsize=(max(6.0, 1.1 * width + 2), max(3.5, 1.4 * levels + 1)))
    ax = fig.subplots()
    f1 = f1_by_id(search)
    norm = Normalize(vmin=min(f1.values(), default=0.0), vmax=max(max(f1.values(), default=1.0),
                                                                   min(f1.values(), default=0.0) + 1e-6))
    cmap = colormaps["viridis"]
    for edge in lineage_edges(search):
        if edge.parent_id not in pos or edge.child_id not in pos:
            continue
        (x0, y0), (x1, y1) = pos[edge.parent_id], pos[edge.child_id]
        ax.add_patch(FancyArrowPatch((x0, y0), (x1, y1), arrowstyle="-|>", mutation_scale=12,
                                     shrinkA=13, shrinkB=13, color="0.4", lw=1.2,
                                     linestyle="-" if edge.warm_start else "--", zorder=1))
        label = "?" if edge.inherited_fraction is None else f"{100 * edge.inherited_fraction:.0f}%"
        ax.text((x0 + x1) / 2, (y0 + y1) / 2, label, fontsize=7, ha="center", va="center",
                bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8}, zorder=2)
    ids = list(pos)
    colors = [cmap(norm(f1[i])) if i in f1 else (0.8, 0.8, 0.8, 1.0) for i in ids]
    ax.scatter([pos[i][0] for i in ids], [pos[i][1] for i in ids], s=420, c=colors, edgecolors="black",
               zorder=3)
    for i in ids:
        text_color = "white" if i in f1 and norm(f1[i]) < 0.5 else "black"
        ax.text(pos[i][0], pos[i][1], str(i), ha="center", va="center", fontsize=8, color=text_color, zorder=4)
    if f1:
        fig.colorbar(ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="validation F1", shrink=0.8)
    xs = [p[0] for p in pos.values()] or [0.0]
    ys = [p[1] for p in pos.values()] or [0.0]
    ax.set_xlim(min(xs) - 0.8, max(xs) + 0.8)
    ax.set_ylim(min(ys) - 0.6, max(ys) + 0.6)
    ax.set_yticks(sorted(set(ys)))
    ax.set_yticklabels([str(int(-y)) for y in sorted(set(ys))])
    ax.set_ylabel("generation")
    ax.set_xticks([])
    ax.set_title("Lineage (edge label: fraction of the child's weights inherited from its parent)")
    ax.title.set_fontsize(9)
    _lineage_legend(fig, cmap(0.5))
    return fig


def _lineage_legend(fig: Figure, node_color: tuple[float, ...]) -> None:
    """Name exactly what :func:`plot_lineage` draws (a root node is a cold start: it has no parent edge)."""
    handles = [
        Line2D([], [], color="0.4", lw=1.2, label="child of parent, weights inherited"),
        Line2D([], [], color="0.4", lw=1.2, linestyle="--", label="child of parent, nothing inherited (yet)"),
        Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=node_color,
               markeredgecolor="black", label="individual (colour: validation F1; no parent: cold start)"),
        Line2D([], [], marker="o", linestyle="", markersize=9, markerfacecolor=(0.8, 0.8, 0.8, 1.0),
               markeredgecolor="black", label="no result (failed or running)"),
    ]
    fig.axes[0].legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.02), ncol=2, fontsize=7,
                       frameon=False)


# --- architecture ---------------------------------------------------------------
def architecture_layout(graph: Graph) -> dict[str, tuple[float, float]]:
    """Positions of a graph's layers: y = -depth from the inputs, x by stream.

    The question stream is on the left, the passage stream on the right;
    layers of one stream at one depth are spread side by side.
    """
    depth: dict[str, int] = {}
    for layer_id in graph.topological_order:
        layer = graph[layer_id]
        preds = (*layer.inputs, *layer.skips, *(("begin",) if layer.pointer == "conditioned" else ()))
        depth[layer_id] = 1 + max((depth[p] for p in preds), default=-1)
    cells: dict[tuple[int, Stream], list[str]] = {}
    for layer_id in graph.topological_order:
        cells.setdefault((depth[layer_id], graph[layer_id].stream), []).append(layer_id)
    base = {Stream.QUESTION: 0.0, Stream.PASSAGE: 2.0, Stream.SUMMARY: 1.0}
    pos: dict[str, tuple[float, float]] = {}
    for (d, stream), members in cells.items():
        for k, layer_id in enumerate(sorted(members)):
            pos[layer_id] = (base[stream] + (k - (len(members) - 1) / 2.0) * 0.9, -float(d))
    return pos


def _wrapped_label(layer) -> str:
    """A layer's label, long feature lists broken over lines of about 14 characters."""
    lines, current = [], ""
    for i, part in enumerate(layer_label(layer).split("+")):
        piece = part if i == 0 else "+" + part
        if current and len(current) + len(piece) > 14:
            lines.append(current)
            current = ""
        current += piece
    return "\n".join([*lines, current])


def plot_architecture(graph: Graph, title: str = "") -> Figure:
    """Draw a reader graph: boxes by layer type, data edges (solid; the
    attention memory input dotted) and skip edges (dashed, red)."""
    pos = architecture_layout(graph)
    depth = int(-min(p[1] for p in pos.values()))
    xs = [p[0] for p in pos.values()]
    fig = Figure(figsize=(max(6.0, 1.6 * (max(xs) - min(xs) + 2)), max(4.0, 0.9 * (depth + 1) + 1)))
    ax = fig.subplots()
    box_w, box_h = 0.8, 0.5
    for layer_id in graph.topological_order:
        layer = graph[layer_id]
        x1, y1 = pos[layer_id]
        for k, src in enumerate(layer.inputs):
            x0, y0 = pos[src]
            memory = layer.type in (LayerType.ATTENTION, LayerType.BIDAF, LayerType.OUTPUT) and k == 1
            ax.add_patch(FancyArrowPatch((x0, y0 - box_h / 2), (x1, y1 + box_h / 2), arrowstyle="-|>",
                                         mutation_scale=10, color="0.25", lw=1.1,
                                         linestyle=":" if memory else "-", zorder=1))
        for src in layer.skips:
            x0, y0 = pos[src]
            ax.add_patch(FancyArrowPatch((x0 - box_w / 2, y0), (x1 - box_w / 2, y1), arrowstyle="-|>",
                                         mutation_scale=10, color="tab:red", lw=1.1, linestyle="--",
                                         connectionstyle="arc3,rad=0.4", zorder=1))
    for layer_id, (x, y) in pos.items():
        layer = graph[layer_id]
        ax.add_patch(FancyBboxPatch((x - box_w / 2, y - box_h / 2), box_w, box_h,
                                    boxstyle="round,pad=0.02", fc=LAYER_COLORS[layer.type], ec="black", zorder=2))
        ax.text(x, y, f"{_wrapped_label(layer)}\n{layer_id}", ha="center", va="center", fontsize=7, zorder=3)
    for stream, x in ((Stream.QUESTION, 0.0), (Stream.PASSAGE, 2.0)):
        ax.text(x, 0.55, f"{stream.value} stream", ha="center", va="bottom", fontsize=9, style="italic")
    handles = [Patch(fc=c, ec="black", label=t.value) for t, c in LAYER_COLORS.items()]
    handles += [Line2D([], [], color="0.25", label="input"),
                Line2D([], [], color="0.25", linestyle=":", label="attention memory"),
                Line2D([], [], color="tab:red", linestyle="--", label="skip edge")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    ax.set_xlim(min(xs) - 1.0, max(xs) + 1.0)
    ax.set_ylim(-depth - 0.6, 1.0)
    ax.set_axis_off()
    hidden = len(graph.hidden_layers)
    ax.set_title(f"{title + ': ' if title else ''}{hidden} hidden layers")
    return fig


# --- warm vs cold ---------------------------------------------------------------
def plot_warm_vs_cold(comparison: WarmColdComparison, f1_by_id: Mapping[int, float] | None = None) -> Figure:
    """Mean validation F1 of warm- and cold-started trials per number of epochs trained,
    before training (hatched) and after; ``f1_by_id`` adds each trial as a dot."""
    fig = Figure(figsize=(6, 4))
    ax = fig.subplots()
    groups = comparison.groups
    if not groups:
        ax.text(0.5, 0.5, "no trial has reported yet", ha="center", va="center", transform=ax.transAxes)
    for g_index, g in enumerate(groups):
        for k, (what, f1, initial, n, color) in enumerate((
                ("warm", g.warm_f1, g.warm_initial_f1, len(g.warm_ids), WARM_COLOR),
                ("cold", g.cold_f1, g.cold_initial_f1, len(g.cold_ids), COLD_COLOR))):
            x = g_index + (k - 0.5) * 0.38
            if f1 is None:
                continue
            ax.bar(x, f1, width=0.36, color=color, label=f"{what} after training" if g_index == 0 else None)
            if initial is not None:
                ax.bar(x, initial, width=0.36, fill=False, hatch="//", edgecolor="black",
                       label="before training" if g_index == 0 and k == 0 else None)
            ids = g.warm_ids if what == "warm" else g.cold_ids
            ys = [f1_by_id[i] for i in ids if i in f1_by_id] if f1_by_id else []
            if ys:
                ax.scatter([x] * len(ys), ys, s=14, color="black", zorder=3,
                           label="one trial" if g_index == 0 and k == 0 else None)
            # Above the bar and above every dot, so no dot covers the label.
            ax.annotate(f"{f1:.1f}\n(n={n})", (x, max([f1, *ys])), xytext=(0, 4), textcoords="offset points",
                        ha="center", va="bottom", fontsize=7, zorder=4)
    ax.set_xticks(range(len(groups)))
    ax.set_xticklabels([f"{g.epochs} epoch{'s' if g.epochs != 1 else ''}" for g in groups])
    ax.set_ylabel("mean validation F1")
    ax.set_title("Warm- vs cold-started trials, same epochs")
    if groups:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))
        top = max([v for g in groups for v in (g.warm_f1, g.cold_f1) if v is not None]
                  + list((f1_by_id or {}).values()) + [1.0])
        ax.set_ylim(0, top * 1.3)
    ax.grid(axis="y", alpha=0.3)
    return fig


def plot_paired_children(pairs: Sequence[PairedChild]) -> Figure:
    """Each child's validation F1 trained warm (inherited weights) and cold, joined by a line."""
    fig = Figure(figsize=(5, 4))
    ax = fig.subplots()
    if not pairs:
        ax.text(0.5, 0.5, "no child trained both warm and cold", ha="center", va="center",
                transform=ax.transAxes)
    for p in pairs:
        ax.plot([0, 1], [p.cold_f1, p.warm_f1], color="0.6", zorder=1)
        ax.annotate(str(p.indiv_id), (1, p.warm_f1), textcoords="offset points", xytext=(5, 0), fontsize=7,
                    va="center")
    ax.scatter([0] * len(pairs), [p.cold_f1 for p in pairs], color=COLD_COLOR, zorder=2, label="cold")
    ax.scatter([1] * len(pairs), [p.warm_f1 for p in pairs], color=WARM_COLOR, zorder=2, label="warm")
    ax.set_xticks([0, 1])
    ax.set_xticklabels(["cold start", "warm start"])
    ax.set_xlim(-0.4, 1.4)
    ax.set_ylabel("validation F1")
    epochs = sorted({p.epochs for p in pairs})
    ax.set_title(f"Same children, same epochs ({', '.join(map(str, epochs)) or '-'}): warm vs cold")
    ax.title.set_fontsize(10)
    ax.grid(axis="y", alpha=0.3)
    return fig

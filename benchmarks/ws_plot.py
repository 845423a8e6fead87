"""Text report and plot of the weight-sharing benchmark (``benchmarks/weight_sharing.py``)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks import ws_figures as wf

__all__ = ["plot", "print_report"]


def _seed_report(e: dict[str, Any]) -> None:
    f = e["figures"]
    ctt = f["compute_to_target"]
    budget = f["budget"]
    print(f"\nseed {e['seed']}: sharing search best F1 {ctt['target']:.2f} after {ctt['sharing_epochs']:.0f} "
          f"trial-epochs (first reached after {ctt['sharing_epochs_to_best']:.0f})")
    kinds = f["warm_starts_by_kind"]
    if kinds:
        print("  (a) warm children, F1 before training vs their parent's final F1:")
        print(f"      {'mutation':22s} {'n':>3s} {'before':>7s} {'parent':>7s} {'median gap':>11s} {'within 0.5':>11s}")
        for kind, k in kinds.items():
            print(f"      {kind:22s} {k['n']:3d} {k['mean_initial_f1']:7.2f} {k['mean_parent_f1']:7.2f} "
                  f"{k['median_gap']:11.2f} {100 * k['within_half_f1']:10.0f}%")
    else:
        print("  (a) no warm children")
    print(f"  (b) trial-epochs a no-sharing search needs to reach {ctt['target']:.2f}:")
    for epochs, c in ctt["cold"].items():
        if c["epochs_to_target"] == float("inf"):
            what = f"not reached in {c['epochs_spent']:.0f} (best {c['best']:.2f})"
        else:
            what = f"{c['epochs_to_target']:.0f} ({c['multiple']:.2f}x the sharing search's)"
        print(f"      {epochs} epoch(s)/trial: {what}")
    s_cum, s_best = wf.curve(e["sharing"])
    base = f["baseline_best_so_far"]
    print(f"  (c) equal-compute baseline (base reader alone, {f['baseline_epochs_run']} of {budget} epochs run): "
          f"best F1 {f['baseline_at_budget']:.2f} at {budget} trial-epochs (dev {'n/a' if f['baseline_dev_at_budget'] is None else format(f['baseline_dev_at_budget'], '.2f')}); "
          f"sharing search {ctt['target']:.2f}: {'beats' if ctt['target'] > f['baseline_at_budget'] else 'loses to'} it")
    points = sorted({max(1, budget // 4), max(1, budget // 2), max(1, 3 * budget // 4), budget})
    print("      best F1 at " + ", ".join(
        f"{b} trial-epochs: search {wf.fmt(wf.best_at_budget(s_cum, s_best, b), missing='-')} / baseline "
        f"{base[b - 1]:.2f}" for b in points))
    if "replay" in f:
        r = f["replay"]
        print(f"  (d) cold replay (same graphs, no inheritance) final best {r['cold_final_best']:.2f}; sharing reached "
              f"it after {wf.fmt(r['sharing_epochs_to_cold_best'], '.0f')} trial-epochs: ratio "
              f"{wf.fmt(r['ratio'], '.3f')}, strict {wf.fmt(r['ratio_strict'], '.3f')}")


def print_report(cfg: Any, per_seed: Sequence[dict[str, Any]]) -> None:
    print(f"\nsettings: {cfg.settings_line()}")
    for e in per_seed:
        _seed_report(e)
    figs = [e["figures"] for e in per_seed]
    n = len(figs)
    multiples = [f["compute_to_target"]["min_multiple"] for f in figs]
    beats = [f["compute_to_target"]["target"] > f["baseline_at_budget"] for f in figs]
    growing = [f["warm_starts_by_kind"]["growing"] for f in figs if "growing" in f["warm_starts_by_kind"]]
    print("\ngoals (issue 16):")
    print(f"  no-sharing needs >= 3x the trial-epochs (fewest over {list(cfg.cold_epochs)} epoch(s)/trial): "
          f"{' / '.join(wf.fmt(m) + ('x' if m != float('inf') else '') for m in multiples)}; "
          f"met on {sum(m >= 3 for m in multiples)} of {n} seed(s)")
    print(f"  sharing best beats the equal-compute baseline at the same budget: met on {sum(beats)} of {n} seed(s) ("
          + ", ".join(f"{f['compute_to_target']['target']:.2f} vs {f['baseline_at_budget']:.2f}" for f in figs) + ")")
    if growing:
        total = sum(g["n"] for g in growing)
        near = sum(g["within_half_f1"] * g["n"] for g in growing)
        print(f"  children of growing mutations starting within {wf.NEAR_PARENT_F1} F1 of their parent: "
              f"{near:.0f} of {total} ({100 * near / total:.0f} %; goal 90 %)")


def plot(per_seed: Sequence[dict[str, Any]], cfg: Any, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(per_seed)
    fig, axes = plt.subplots(2, n, figsize=(5.5 * n, 8), squeeze=False)
    cold_styles = ("--", "-.", ":", (0, (5, 1)))
    for col, e in enumerate(per_seed):
        ax = axes[0][col]
        f = e["figures"]
        x, y = wf.curve(e["sharing"])
        ax.step([0, *x], [float("nan"), *y], where="post", color="tab:blue", lw=2, label="weight sharing")
        for i, (epochs, trials) in enumerate(sorted(e["cold"].items(), key=lambda kv: int(kv[0]))):
            cx, cy = wf.curve(trials)
            ax.step([0, *cx], [float("nan"), *cy], where="post", color=("tab:orange", "tab:red", "tab:purple",
                    "tab:brown")[i % 4], ls=cold_styles[i % 4], lw=1.3, label=f"no sharing, {epochs} ep/trial")
        if "cold_replay" in e:
            rx, ry = wf.curve(e["cold_replay"])
            ax.step([0, *rx], [float("nan"), *ry], where="post", color="tab:gray", lw=1, alpha=0.7,
                    label="no sharing, same graphs (replay)")
        base = f["baseline_best_so_far"]
        ax.step(range(0, len(base) + 1), [float("nan"), *base], where="post", color="black", lw=1.5,
                label="base reader alone (equal compute)")
        ax.axhline(f["compute_to_target"]["target"], color="tab:blue", lw=0.5, alpha=0.5)
        ax.axvline(f["budget"], color="black", lw=0.5, alpha=0.3)
        ax.set_xlabel("trial-epochs spent")
        ax.set_ylabel("best F1 so far")
        ax.set_title(f"seed {e['seed']}: best F1 vs compute", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")

        ax = axes[1][col]
        starts = f["warm_starts"]
        kinds = sorted({s["kind"] for s in starts})
        for k, kind in enumerate(kinds):
            pts = [s for s in starts if s["kind"] == kind]
            ax.scatter([s["parent_f1"] for s in pts], [s["initial_f1"] for s in pts], s=25,
                       marker="os^vD<>"[k % 7], label=kind)
        lim = max([1.0] + [max(s["parent_f1"], s["initial_f1"]) for s in starts]) * 1.05
        ax.plot([0, lim], [0, lim], color="black", lw=0.8, label="starts at its parent's F1")
        ax.plot([0, lim], [-wf.NEAR_PARENT_F1, lim - wf.NEAR_PARENT_F1], color="black", lw=0.5, ls=":")
        ax.set_xlim(0, lim)
        ax.set_ylim(0, lim)
        ax.set_xlabel("parent's final F1")
        ax.set_ylabel("child's F1 before training")
        ax.set_title(f"seed {e['seed']}: warm children at birth", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="upper left")
    fig.suptitle(textwrap.fill(cfg.settings_line(), 95 * n), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

"""Figures of the table benchmarks: pixel error against labeled pixels."""
import math

import numpy as np


def plot_error_curves(path, cells, x_order, series, references=None, paper=None,
                      xlabel="labeled pixels per image", ylabel="pixel error (%)", title=None,
                      scale=100.0, names=None):
    """Error vs ``x`` with std bars, one line per series.

    Parameters
    ----------
    path : str or Path
        PNG file to write.
    cells : dict (x, series) -> (mean, std, n), as from :func:`_report.aggregate`
    x_order : list of x values (numbers)
    series : list of series keys plotted as lines
    references : dict name -> (mean, std), optional
        Drawn as horizontal lines with a shaded +-std band (e.g. a dense-label
        reference).
    paper : dict series -> dict x -> value (fractions), optional
        Published figures, drawn as hollow markers joined by dotted lines in
        the colour of the series (a name not in ``series`` gets its own).
    names : dict series key -> legend name, optional
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = names or {}
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    colors = {}
    for s in series:
        xs = [x for x in x_order if (x, s) in cells]
        if not xs:
            continue
        means = np.array([cells[(x, s)][0] for x in xs]) * scale
        stds = np.nan_to_num(np.array([cells[(x, s)][1] for x in xs]) * scale)
        line = ax.errorbar(xs, means, yerr=stds, marker="o", capsize=3, label=names.get(s, str(s)))
        colors[s] = line[0].get_color()
    for name, (mean, std) in (references or {}).items():
        color = ax._get_lines.get_next_color()
        ax.axhline(scale * mean, color=color, linestyle="--", label=name)
        if std is not None and not math.isnan(std):
            ax.axhspan(scale * (mean - std), scale * (mean + std), color=color, alpha=0.15)
    for s, values in (paper or {}).items():
        pts = sorted((x, v) for x, v in values.items() if v is not None)
        if not pts:
            continue
        color = colors.get(s) or ax._get_lines.get_next_color()
        ax.plot([p[0] for p in pts], [scale * p[1] for p in pts], linestyle=":", marker="s",
                markerfacecolor="none", color=color, label=f"{names.get(s, s)} (paper)")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ticks = set(x_order) | {x for values in (paper or {}).values() for x in values}
    if ticks:
        ax.set_xticks(sorted(ticks))
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)

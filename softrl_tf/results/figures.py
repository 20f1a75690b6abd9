"""Learning-curve figures: one panel per environment, one curve per label, :data:`BAND` shaded.

matplotlib is imported when a figure is drawn (it comes with the ``notebooks`` and ``dev`` extras),
with the non-interactive Agg backend outside notebooks. Every figure names its band in the legend
title of each panel, wraps a long title to the figure's width, and lays itself out with
matplotlib's constrained layout, so that neither titles nor labels are cut off.
"""

from __future__ import annotations

import math
import os
import sys
import textwrap
from collections.abc import Mapping, Sequence

from softrl_tf.results.metrics import RETURN_METRIC
from softrl_tf.results.stats import BAND, MAX_POINTS, aggregate

import numpy as np

AXIS_LABELS = {
    # One step of the table is one action of one environment copy: an agent step (on Atari, after
    # frame skipping; the paper's "frames" are 4 of them).
    "step": "agent steps",
    "wall_time": "wall-clock time (s)",
    RETURN_METRIC: "mean return, last 100 episodes",
}
"""Axis labels of the usual ``metrics.csv`` columns; other columns are labelled by name."""
LINE_STYLES = ("-", "--", "-.", ":")
"""Line styles of the labels, in order: curves that coincide (e.g. variants sharing their seeds at
a small budget) stay distinguishable, and so do colours that print alike."""
PANEL_SIZE = (4.8, 3.6)
"""Width and height of one panel, in inches."""
_TITLE_CHARS_PER_INCH = 10  # suptitle at matplotlib's default "large" size, with a margin

Panels = Mapping[str | None, Mapping[str, Sequence[tuple[np.ndarray, np.ndarray]]]]
"""``{panel title (an environment id, or None): {label: [(x [n_i], y [n_i]) per run]}}``."""


def pyplot():
    """``matplotlib.pyplot``, with the Agg backend unless running in a notebook kernel."""
    import matplotlib

    if "ipykernel" not in sys.modules:
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def axis_label(column: str) -> str:
    """The axis label of a ``metrics.csv`` column."""
    return AXIS_LABELS.get(column, column)


def wrap_title(title: str, width_inches: float) -> str:
    """``title`` broken into lines that fit a figure ``width_inches`` wide."""
    width = max(20, int(width_inches * _TITLE_CHARS_PER_INCH))
    return "\n".join(textwrap.wrap(title, width=width)) or title


def learning_curves(
    panels: Panels,
    *,
    title: str | None = None,
    xlabel: str = AXIS_LABELS["step"],
    ylabel: str = AXIS_LABELS[RETURN_METRIC],
    max_points: int = MAX_POINTS,
):
    """The learning-curve figure: per panel and label, the mean over runs with :data:`BAND`.

    A label keeps its colour and line style (:data:`LINE_STYLES`) in every panel. The legend of
    each panel reads ``label (n=runs)`` under the title :data:`BAND`; a curve of one run has no
    band.

    Args:
      panels: see :data:`Panels`; labels without runs are skipped.
      title: the figure title (wrapped to the figure width), or None.
      xlabel, ylabel: the axis labels.
      max_points: the largest grid of a curve (see :func:`softrl_tf.results.stats.aggregate`).

    Returns:
      ``(figure, curves drawn)``.

    Raises:
      AggregationError: the runs of a label cannot be averaged (their x ranges do not overlap).
    """
    plt = pyplot()
    labels = list(dict.fromkeys(label for groups in panels.values() for label in groups))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color_of = {label: colors[i % len(colors)] for i, label in enumerate(labels)}
    style_of = {label: LINE_STYLES[i % len(LINE_STYLES)] for i, label in enumerate(labels)}
    n = max(1, len(panels))
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    width = PANEL_SIZE[0] * ncols
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, PANEL_SIZE[1] * nrows), squeeze=False, layout="constrained"
    )
    drawn = 0
    try:
        for ax, (panel, groups) in zip(axes.flat, panels.items(), strict=False):
            for label, runs in groups.items():
                runs = [(np.asarray(x), np.asarray(y)) for x, y in runs if len(x)]
                if not runs:
                    continue
                curve = aggregate(runs, max_points=max_points, name=repr(label))
                color = color_of[label]
                ax.plot(
                    curve.x,
                    curve.mean,
                    color=color,
                    ls=style_of[label],
                    lw=1.5,
                    label=f"{label} (n={curve.runs})",
                )
                if curve.runs > 1:
                    ax.fill_between(curve.x, curve.low, curve.high, color=color, alpha=0.2, lw=0)
                drawn += 1
            if panel is not None:
                ax.set_title(panel)
            ax.set_xlabel(xlabel)
            ax.set_ylabel(ylabel)
            ax.grid(alpha=0.3)
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 4), useMathText=True)
            if ax.get_legend_handles_labels()[0]:
                ax.legend(fontsize="small", title=BAND, title_fontsize="small", frameon=False)
    except BaseException:
        plt.close(fig)
        raise
    for ax in list(axes.flat)[len(panels) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(wrap_title(title, width))
    return fig, drawn


def save(fig, path: str | os.PathLike, dpi: int = 150) -> str:
    """Saves ``fig`` (the format from the extension) and closes it; returns the path.

    Raises:
      ValueError: matplotlib cannot write that format.
    """
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        fig.savefig(path, dpi=dpi)
    finally:
        pyplot().close(fig)
    return path

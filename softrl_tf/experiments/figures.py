"""Figures of the experiments (matplotlib, imported lazily: the ``notebooks`` or ``dev`` extra).

* :func:`learning_curves`: one panel per environment, one curve per variant: the mean over seeds
  of the return curve with a shaded band (+-1 standard deviation across seeds by default, as the
  paper's figures; or the 95% t interval, or min-max), on the steps that every seed reached.
* :func:`equivalence_figure`: relative error of the mean gradients against the number of batches
  averaged (experiment 1), log-log, with the ``1/sqrt(k)`` slope for reference.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from softrl_tf.experiments.summary import RunCurve, t_quantile

import numpy as np

BANDS = ("std", "ci", "minmax", "none")


def _pyplot():
    import matplotlib

    if matplotlib.get_backend().lower() not in ("agg",) and not _interactive():
        matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _interactive() -> bool:
    import sys

    return "ipykernel" in sys.modules


def aggregate(curves: Sequence[tuple[np.ndarray, np.ndarray]], band: str = "std"):
    """``(grid, mean, low, high)`` of several ``(steps, values)`` curves.

    The grid is the union of the runs' steps inside the range that all of them cover; each run is
    linearly interpolated onto it. Bands: ``std`` mean +- 1 sample std (``ddof=1``), ``ci`` the 95%
    t interval of the mean, ``minmax``, ``none`` (low = high = mean). One run has no band.
    """
    curves = [(x, y) for x, y in curves if len(x)]
    if not curves:
        raise ValueError("aggregate: no curve has any points")
    start = max(float(x[0]) for x, _ in curves)
    stop = min(float(x[-1]) for x, _ in curves)
    grid = np.unique(np.concatenate([x[(x >= start) & (x <= stop)] for x, _ in curves]))
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    mean = ys.mean(axis=0)
    if len(curves) < 2 or band == "none":
        return grid, mean, mean, mean
    if band == "minmax":
        return grid, mean, ys.min(axis=0), ys.max(axis=0)
    spread = ys.std(axis=0, ddof=1)
    if band == "ci":
        spread = spread * t_quantile(0.975, len(curves) - 1) / math.sqrt(len(curves))
    elif band != "std":
        raise ValueError(f"band must be one of {BANDS}, got {band!r}")
    return grid, mean, mean - spread, mean + spread


def learning_curves(
    runs: Sequence[RunCurve],
    band: str = "std",
    title: str | None = None,
    variants: Sequence[str] | None = None,
):
    """The learning-curve figure of a training experiment (see the module docstring)."""
    plt = _pyplot()
    envs = list(dict.fromkeys(run.env for run in runs))
    order = list(variants) if variants else list(dict.fromkeys(run.variant for run in runs))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    ncols = min(3, max(1, len(envs)))
    nrows = max(1, math.ceil(len(envs) / ncols))
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.6 * ncols, 3.4 * nrows), squeeze=False, layout="constrained"
    )
    for ax, env in zip(axes.flat, envs, strict=False):
        for index, variant in enumerate(order):
            group = [r for r in runs if r.env == env and r.variant == variant and len(r.steps)]
            if not group:
                continue
            grid, mean, low, high = aggregate([(r.steps, r.values) for r in group], band)
            color = colors[index % len(colors)]
            ax.plot(grid, mean, color=color, lw=1.5, label=f"{variant} (n={len(group)})")
            if len(group) > 1 and band != "none":
                ax.fill_between(grid, low, high, color=color, alpha=0.2, lw=0)
        ax.set_title(env)
        ax.set_xlabel("environment steps")
        ax.set_ylabel("mean return, last 100 episodes")
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 4), useMathText=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", frameon=False)
    for ax in list(axes.flat)[len(envs) :]:
        ax.set_visible(False)
    if title:
        fig.suptitle(title)
    return fig


def equivalence_figure(rows: Sequence[dict]):
    """Relative error of the mean gradients against batches averaged, per case: all variables
    (left) and the policy-logit layer (right); mean over seeds with a min-max band."""
    plt = _pyplot()
    cases = list(dict.fromkeys(row["case"] for row in rows))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    for ax, key, what in zip(
        axes,
        ("relative_error", "head_relative_error"),
        ("all variables", "policy-logit layer"),
        strict=True,
    ):
        for index, case in enumerate(cases):
            subset = [row for row in rows if row["case"] == case]
            ks = sorted({row["batches"] for row in subset})
            per_k = [[row[key] for row in subset if row["batches"] == k] for k in ks]
            mean = np.array([np.mean(v) for v in per_k])
            color = colors[index % len(colors)]
            ax.plot(ks, mean, "o-", ms=3, color=color, label=case)
            ax.fill_between(
                ks, [min(v) for v in per_k], [max(v) for v in per_k], color=color, alpha=0.2, lw=0
            )
        ks = np.array(sorted({row["batches"] for row in rows}), dtype=float)
        if len(ks):
            first = np.mean([row[key] for row in rows if row["batches"] == ks[0]])
            ax.plot(ks, first / np.sqrt(ks / ks[0]), "k:", lw=1, label=r"$\propto 1/\sqrt{k}$")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.set_xlabel("batches averaged k")
        ax.set_ylabel(r"$\|\bar g_Q - \bar g_{PG}\| / \|\bar g_{PG}\|$")
        ax.set_title(what)
        ax.grid(alpha=0.3, which="both")
    axes[0].legend(fontsize="x-small", frameon=False)
    return fig


def save(fig, path: str) -> str:
    """Saves ``fig`` (PNG at 120 dpi) and closes it; returns ``path``."""
    import os

    plt = _pyplot()
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path

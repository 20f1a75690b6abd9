"""Figures of the experiments (matplotlib, imported lazily: the ``notebooks`` or ``dev`` extra).

* :func:`learning_curves`: one panel per environment, one curve per variant: the mean over seeds
  of the return curve with the band :data:`softrl_tf.results.stats.BAND`, drawn by
  :func:`softrl_tf.results.figures.learning_curves` (the figure every learning curve uses).
* :func:`equivalence_figure`: relative error of the mean gradients against the number of batches
  averaged (experiment 1), log-log, with the ``1/sqrt(k)`` slope for reference.
"""

from __future__ import annotations

from collections.abc import Sequence

from softrl_tf.experiments.summary import RunCurve
from softrl_tf.results import figures as _figures

import numpy as np

EQUIVALENCE_BAND = "mean over seeds, shaded: min to max"
"""The band of :func:`equivalence_figure`: relative errors on a log axis, where a t interval of
three seeds would reach below zero."""


def learning_curves(
    runs: Sequence[RunCurve],
    title: str | None = None,
    variants: Sequence[str] | None = None,
):
    """The learning-curve figure of a training experiment (see the module docstring).

    Args:
      runs: the runs; those with an empty curve are left out.
      title: the figure title.
      variants: the order of the curves (default: order of first appearance).
    """
    envs = list(dict.fromkeys(run.env for run in runs))
    order = list(variants) if variants else list(dict.fromkeys(run.variant for run in runs))
    panels = {
        env: {
            variant: [
                (run.steps, run.values)
                for run in runs
                if run.env == env and run.variant == variant and len(run.steps)
            ]
            for variant in order
        }
        for env in envs
    }
    fig, _ = _figures.learning_curves(panels, title=title)
    return fig


def equivalence_figure(rows: Sequence[dict]):
    """Relative error of the mean gradients against batches averaged, per case: all variables
    (left) and the policy-logit layer (right); mean over seeds with a min-max band."""
    plt = _figures.pyplot()
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
    axes[0].legend(
        fontsize="x-small", title=EQUIVALENCE_BAND, title_fontsize="x-small", frameon=False
    )
    return fig


def save(fig, path: str) -> str:
    """Saves ``fig`` (PNG) and closes it; returns ``path``."""
    return _figures.save(fig, path)

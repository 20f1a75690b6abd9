"""The experiments' figures: learning curves per environment and variant, and the equivalence
plot; the aggregation itself is tested in tests/results."""

from softrl_tf.experiments import figures
from softrl_tf.experiments.summary import RunCurve
from softrl_tf.results.stats import BAND

import numpy as np
import pytest

pytest.importorskip("matplotlib")


def _run(env, variant, seed, slope):
    steps = np.arange(1, 11) * 100.0
    return RunCurve(
        f"{variant}-{seed}", variant, env, seed, steps, slope * steps + seed, 0, 0, 1000, "finished"
    )


def test_learning_curves_one_panel_per_env_one_curve_per_variant(tmp_path):
    runs = [
        _run(env, variant, seed, slope)
        for env in ("CartPole-v1", "MinAtar/Breakout-v1")
        for variant, slope in (("naive", 1.0), ("proper", 2.0))
        for seed in (0, 1, 2)
    ]
    fig = figures.learning_curves(runs, title="t", variants=["proper", "naive"])
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["CartPole-v1", "MinAtar/Breakout-v1"]
    for ax in visible:
        assert [line.get_label() for line in ax.lines] == ["proper (n=3)", "naive (n=3)"]
        assert ax.get_legend().get_title().get_text() == BAND
        assert len(ax.collections) == 2  # one shaded band per curve
        np.testing.assert_allclose(ax.lines[0].get_ydata(), 2 * np.arange(1, 11) * 100 + 1)
    path = figures.save(fig, str(tmp_path / "curves.png"))
    with open(path, "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_equivalence_figure_has_a_curve_per_case():
    rows = [
        {"case": case, "seed": s, "batches": k, "relative_error": e / k, "head_relative_error": e}
        for case, e in (("on", 1e-2), ("off", 1e-1))
        for s in (0, 1)
        for k in (1, 2, 4)
    ]
    fig = figures.equivalence_figure(rows)
    labels = [line.get_label() for line in fig.axes[0].lines]
    assert labels[:2] == ["on", "off"] and len(labels) == 3  # and the 1/sqrt(k) guide
    assert fig.axes[0].get_legend().get_title().get_text() == figures.EQUIVALENCE_BAND

"""Figures: the aggregation across seeds (by hand) and the learning-curve and equivalence plots."""

import math

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.experiments import figures
from softrl_tf.experiments.summary import RunCurve

import numpy as np
import pytest

pytest.importorskip("matplotlib")


def test_aggregate_by_hand():
    a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 2.0, 4.0]))
    b = (np.array([5.0, 20.0, 30.0]), np.array([1.0, 4.0, 6.0]))
    grid, mean, low, high = figures.aggregate([a, b], band="minmax")
    # The common range is [5, 20]; grid = union of the steps in it: 5, 10, 20.
    np.testing.assert_array_equal(grid, [5, 10, 20])
    # a at 5, 10, 20: 1, 2, 4; b (line through (5, 1) and (20, 4)): 1, 2, 4.
    np.testing.assert_allclose(mean, [1, 2, 4])
    np.testing.assert_allclose(low, [1, 2, 4])
    c = (np.array([5.0, 20.0]), np.array([3.0, 0.0]))
    grid, mean, low, high = figures.aggregate([b, c], band="std")
    # Common range [5, 20], grid 5, 20. At 5: values 1 and 3, mean 2, sample std sqrt(2); at 20:
    # 4 and 0, mean 2, std sqrt(8).
    np.testing.assert_array_equal(grid, [5, 20])
    np.testing.assert_allclose(mean, [2, 2])
    np.testing.assert_allclose(high - mean, [math.sqrt(2), math.sqrt(8)])
    np.testing.assert_allclose(mean - low, [math.sqrt(2), math.sqrt(8)])
    # 95% t interval with 2 seeds: std * 12.7062 / sqrt(2).
    _, _, low_ci, high_ci = figures.aggregate([b, c], band="ci")
    np.testing.assert_allclose(high_ci[0] - 2, math.sqrt(2) * 12.706204736174707 / math.sqrt(2))
    with pytest.raises(ValueError, match="band"):
        figures.aggregate([b, c], band="bad")


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

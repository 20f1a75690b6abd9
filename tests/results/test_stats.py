"""Final return, AUC, the t quantile and interval, and the one curve aggregator, by hand."""

import math

from softrl_tf.results import stats

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

# Student's t 0.975 quantiles (standard tables): df = 1, 2, 4.
T975 = {1: 12.706204736174707, 2: 4.302652729749464, 4: 2.7764451051977934}


def test_final_and_auc_by_hand():
    steps = np.array([1000.0, 2000.0, 3000.0])
    values = np.array([10.0, 20.0, 40.0])
    # Trapezoids: (10 + 20) / 2 * 1000 + (20 + 40) / 2 * 1000 = 45000 over 2000 steps: 22.5.
    assert stats.area_under_curve(steps, values) == pytest.approx(22.5, rel=1e-15)
    assert stats.final_return(steps, values) == 40.0
    # Uneven spacing: (0 + 10) / 2 * 100 + (10 + 10) / 2 * 900 = 500 + 9000 = 9500 over 1000.
    assert stats.area_under_curve(np.array([0.0, 100.0, 1000.0]), np.array([0.0, 10, 10])) == (
        pytest.approx(9.5, rel=1e-15)
    )
    assert stats.area_under_curve(np.array([5.0]), np.array([7.0])) == 7.0
    assert math.isnan(stats.area_under_curve(np.array([]), np.array([])))
    assert math.isnan(stats.final_return(np.array([]), np.array([])))


@pytest.mark.parametrize("df", sorted(T975))
def test_t_quantile_matches_the_tables(df):
    assert stats.t_quantile(0.975, df) == pytest.approx(T975[df], rel=1e-12)
    assert stats.t_quantile(0.025, df) == pytest.approx(-T975[df], rel=1e-12)


def test_t_quantile_closed_forms():
    # df = 1 is the Cauchy distribution: tan(pi (p - 1/2)); df = 2: (2p - 1) / sqrt(2 p (1 - p)).
    for p in (0.6, 0.9, 0.99, 0.9999):
        assert stats.t_quantile(p, 1) == pytest.approx(math.tan(math.pi * (p - 0.5)), rel=1e-12)
        expected = (2 * p - 1) / math.sqrt(2 * p * (1 - p))
        assert stats.t_quantile(p, 2) == pytest.approx(expected, rel=1e-12)
    assert stats.t_quantile(0.5, 7) == 0.0
    with pytest.raises(ValueError, match="probability"):
        stats.t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="df"):
        stats.t_quantile(0.9, 0)


@given(
    p=st.floats(min_value=0.55, max_value=0.9999),
    df=st.floats(min_value=0.5, max_value=500.0),
)
def test_t_quantile_inverts_the_cdf(p, df):
    # P(T <= t) = 1 - I_{df / (df + t^2)}(df / 2, 1 / 2) / 2 for t > 0.
    t = stats.t_quantile(p, df)
    cdf = 1 - 0.5 * stats.regularized_incomplete_beta(df / 2, 0.5, df / (df + t * t))
    assert cdf == pytest.approx(p, abs=1e-12)


def test_t_quantile_agrees_with_scipy():
    scipy_stats = pytest.importorskip("scipy.stats")
    for df in (1, 2, 3, 5, 9, 30, 200):
        for p in (0.6, 0.9, 0.975, 0.995):
            assert stats.t_quantile(p, df) == pytest.approx(scipy_stats.t.ppf(p, df), rel=1e-11)


def test_mean_interval_by_hand():
    # 40, 50, 60: mean 50, sample std 10, n = 3, df = 2: half-width 4.302652729749464 * 10 / sqrt 3.
    mean, low, high = stats.mean_interval([40.0, 50.0, 60.0])
    half = T975[2] * 10 / math.sqrt(3)
    assert mean == 50.0
    assert (low, high) == pytest.approx((50 - half, 50 + half), rel=1e-12)
    # nan is left out; one value has no interval.
    mean, low, high = stats.mean_interval([3.0, float("nan")])
    assert mean == 3.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in stats.mean_interval([]))


def test_aggregate_by_hand():
    a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 2.0, 4.0]))
    b = (np.array([5.0, 20.0, 30.0]), np.array([1.0, 4.0, 6.0]))
    c = (np.array([5.0, 20.0]), np.array([3.0, 0.0]))
    # Common range [5, 20]; grid = the runs' steps in it: 5, 10, 20. Interpolated: a 1, 2, 4;
    # b 1, 2, 4; c 3, 2, 0. Mean 5/3, 2, 8/3.
    curve = stats.aggregate([a, b, c])
    np.testing.assert_array_equal(curve.x, [5, 10, 20])
    np.testing.assert_allclose(curve.mean, [5 / 3, 2, 8 / 3])
    assert curve.runs == 3
    # Sample std at 5: values 1, 1, 3: sqrt(((2/3)^2 * 2 + (4/3)^2) / 2) = sqrt(4/3); at 10: 0;
    # at 20: 4, 4, 0: sqrt(((4/3)^2 * 2 + (8/3)^2) / 2) = sqrt(16/3). Half width t * s / sqrt(3).
    half = T975[2] * np.sqrt([4 / 3, 0, 16 / 3]) / math.sqrt(3)
    np.testing.assert_allclose(curve.high - curve.mean, half, atol=1e-12)
    np.testing.assert_allclose(curve.mean - curve.low, half, atol=1e-12)


def test_the_band_is_the_tables_interval_at_every_point():
    rng = np.random.default_rng(0)
    x = np.arange(10.0)
    runs = [(x, rng.normal(size=10)) for _ in range(4)]
    curve = stats.aggregate(runs)
    for i in range(10):
        mean, low, high = stats.mean_interval([y[i] for _, y in runs])
        assert (curve.mean[i], curve.low[i], curve.high[i]) == pytest.approx((mean, low, high))
    assert "95% t interval" in stats.BAND and stats.CONFIDENCE == 0.95


def test_aggregate_one_run_has_no_band_and_the_grid_is_capped():
    x = np.arange(1000.0)
    single = stats.aggregate([(x, 2 * x)], max_points=11)
    np.testing.assert_allclose(single.x, np.linspace(0, 999, 11))
    np.testing.assert_array_equal(single.low, single.mean)
    np.testing.assert_array_equal(single.high, single.mean)
    assert single.runs == 1


def test_aggregate_rejects_what_cannot_be_averaged():
    with pytest.raises(stats.AggregationError, match="'x' cover x ranges that do not overlap"):
        stats.aggregate(
            [(np.array([0.0, 1.0]), np.zeros(2)), (np.array([2.0, 3.0]), np.ones(2))], name="'x'"
        )
    with pytest.raises(stats.AggregationError, match="no values"):
        stats.aggregate([(np.array([]), np.array([]))])
    with pytest.raises(stats.AggregationError, match="no values"):
        stats.aggregate([])

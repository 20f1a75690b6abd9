"""Statistics over seeds: per-run numbers, the confidence interval, and the one curve aggregator.

Per run (a curve ``steps [n], values [n]``, e.g. :meth:`MetricsTable.curve`):

* :func:`final_return`: the curve's last value;
* :func:`area_under_curve`: the trapezoid area divided by the steps spanned, i.e. the average of
  the curve over training in the curve's units.

Over seeds, tables and figures use the same interval: the mean with the 95% Student-t confidence
interval ``mean +- t_{0.975, n-1} * s / sqrt(n)``, ``s`` the sample standard deviation
(``ddof=1``). :func:`mean_interval` gives it for one number per seed (the summary tables);
:func:`aggregate` gives it at every point of the learning curves (:data:`BAND`, the shaded band of
every figure). One seed has no interval.

Student's t quantile is computed here (:func:`t_quantile`, the regularised incomplete beta function
by its continued fraction), so this module needs numpy only.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

CONFIDENCE = 0.95
"""Coverage of every interval over seeds, in tables and figures."""
BAND = "mean over seeds ± 95% t interval"
"""What the shaded band of every learning-curve figure is; figures print it in their legend."""
MAX_POINTS = 500
"""Default largest grid of an aggregated curve."""


def final_return(steps: np.ndarray, values: np.ndarray) -> float:
    """The curve's last value (nan for an empty curve); ``steps, values``: ``[n]``."""
    del steps
    return float(values[-1]) if len(values) else float("nan")


def area_under_curve(steps: np.ndarray, values: np.ndarray) -> float:
    """Trapezoid area under ``values [n]`` over ``steps [n]``, divided by the span of ``steps``.

    One point gives that point's value; an empty curve gives nan.
    """
    if len(values) == 0:
        return float("nan")
    if len(values) == 1:
        return float(values[0])
    return float(np.trapezoid(values, steps) / (steps[-1] - steps[0]))


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz's method)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 10_000):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1.0) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1.0)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-16:
            break
    return fraction


def regularized_incomplete_beta(a: float, b: float, x: float) -> float:
    """``I_x(a, b)`` for ``a, b > 0`` and ``0 <= x <= 1``."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(log_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _beta_continued_fraction(a, b, x) / a
    return 1.0 - front * _beta_continued_fraction(b, a, 1.0 - x) / b


def _t_upper_tail(t: float, df: float) -> float:
    """``P(T > t)`` for ``t >= 0``, ``T`` Student-t with ``df`` degrees of freedom."""
    return 0.5 * regularized_incomplete_beta(df / 2.0, 0.5, df / (df + t * t))


def t_quantile(probability: float, df: float) -> float:
    """Student's t quantile: the ``t`` with ``P(T <= t) = probability``, ``df > 0``.

    Bisection on the upper tail (no cancellation in ``1 - probability``), to double precision.
    """
    if not 0.0 < probability < 1.0:
        raise ValueError(f"t_quantile: probability must be in (0, 1), got {probability}.")
    if not df > 0:
        raise ValueError(f"t_quantile: df must be > 0, got {df}.")
    if probability < 0.5:
        return -t_quantile(1.0 - probability, df)
    tail = 1.0 - probability
    if tail == 0.5:
        return 0.0
    low, high = 0.0, 1.0
    while _t_upper_tail(high, df) > tail:
        low, high = high, 2.0 * high
    for _ in range(200):
        middle = 0.5 * (low + high)
        if middle in (low, high):
            break
        if _t_upper_tail(middle, df) > tail:
            low = middle
        else:
            high = middle
    return 0.5 * (low + high)


def _half_width(samples: np.ndarray, confidence: float) -> np.ndarray:
    """Half width of the t interval of the mean of ``samples [n, ...]`` over axis 0, ``[...]``."""
    n = samples.shape[0]
    quantile = t_quantile(0.5 + confidence / 2.0, n - 1)
    return quantile * samples.std(axis=0, ddof=1) / math.sqrt(n)


def mean_interval(
    values: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float, float]:
    """``(mean, low, high)``: the mean of ``values [n]`` and its t confidence interval.

    nan values are left out; with fewer than two values the interval is ``(nan, nan)``.
    """
    x = np.asarray([v for v in values if np.isfinite(v)], dtype=np.float64)
    if len(x) == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if len(x) < 2:
        return mean, float("nan"), float("nan")
    half = float(_half_width(x, confidence))
    return mean, mean - half, mean + half


class AggregationError(ValueError):
    """Curves that cannot be averaged: one sentence naming the curve."""


@dataclasses.dataclass(frozen=True)
class Curve:
    """Runs (seeds) aggregated on a common grid: :data:`BAND` around the mean.

    Attributes:
      x: float64 ``[G]``, the grid.
      mean: float64 ``[G]``, the mean over runs.
      low, high: float64 ``[G]``, the band; equal to ``mean`` for a single run.
      runs: the number of runs averaged.
    """

    x: np.ndarray
    mean: np.ndarray
    low: np.ndarray
    high: np.ndarray
    runs: int


def aggregate(
    curves: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    max_points: int = MAX_POINTS,
    name: str = "the curve",
) -> Curve:
    """The mean and :data:`BAND` of several runs' curves on a common grid.

    The grid is every x of any run inside ``[max of first x, min of last x]`` (the range all runs
    reached), or ``max_points`` evenly spaced points over that range when there are more; each run
    is linearly interpolated onto it (``np.interp``).

    Args:
      curves: one ``(x [n_i], y [n_i])`` per run, x sorted and unique.
      max_points: the largest grid, >= 2.
      name: what the curves are, for error messages.

    Raises:
      AggregationError: no curves, an empty run, or runs whose x ranges do not overlap.
    """
    curves = list(curves)
    if not curves or any(len(x) == 0 for x, _ in curves):
        raise AggregationError(f"A run of {name} has no values to aggregate.")
    start = max(float(x[0]) for x, _ in curves)
    stop = min(float(x[-1]) for x, _ in curves)
    if start > stop:
        raise AggregationError(
            f"The runs of {name} cover x ranges that do not overlap, so they cannot be averaged."
        )
    grid = np.unique(np.concatenate([x[(x >= start) & (x <= stop)] for x, _ in curves]))
    if len(grid) > max_points:
        grid = np.linspace(start, stop, max_points)
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    mean = ys.mean(axis=0)
    if len(curves) < 2:
        return Curve(x=grid, mean=mean, low=mean, high=mean, runs=1)
    half = _half_width(ys, CONFIDENCE)
    return Curve(x=grid, mean=mean, low=mean - half, high=mean + half, runs=len(curves))

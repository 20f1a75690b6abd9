"""Results of training runs without TensorFlow: read ``metrics.csv``, aggregate, summarise, plot.

* :mod:`~softrl_tf.results.metrics`: the one ``metrics.csv`` reader (a repeated step: the last row
  written wins; rows sorted by step; a torn last line dropped);
* :mod:`~softrl_tf.results.stats`: final return, area under the curve, the 95% t interval over
  seeds, and the one curve aggregator (its band is :data:`~softrl_tf.results.stats.BAND`);
* :mod:`~softrl_tf.results.figures`: learning-curve figures (matplotlib, imported when drawing);
* :mod:`~softrl_tf.results.plot`: the ``softrl-plot`` command line.

``import softrl_tf.results`` does not import TensorFlow.
"""

from softrl_tf.results.metrics import (
    BASE_COLUMNS,
    METRICS_CSV,
    RETURN_METRIC,
    MetricsFormatError,
    MetricsTable,
    read_metrics,
)
from softrl_tf.results.stats import (
    BAND,
    CONFIDENCE,
    AggregationError,
    Curve,
    aggregate,
    area_under_curve,
    final_return,
    mean_interval,
    t_quantile,
)

__all__ = [
    "BAND",
    "BASE_COLUMNS",
    "CONFIDENCE",
    "METRICS_CSV",
    "RETURN_METRIC",
    "AggregationError",
    "Curve",
    "MetricsFormatError",
    "MetricsTable",
    "aggregate",
    "area_under_curve",
    "final_return",
    "mean_interval",
    "read_metrics",
    "t_quantile",
]

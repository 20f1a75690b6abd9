"""The reader on files written by MetricsLogger, and the logger's resume through the reader."""

from softrl_tf.results import metrics
from softrl_tf.training.logging import METRICS_CSV, MetricsLogger

import numpy as np


def test_reads_what_the_logger_writes_across_a_resume(tmp_path):
    with MetricsLogger(tmp_path) as logger:
        for step in (100, 200, 300):
            logger.write(step, {"loss": step / 100})
        logger.write(400, {"loss": 4.0, "episode/return_mean100": 7.0})  # a column appears
    # Resumed from the checkpoint at step 200: rows after it go, the header stays wide.
    with MetricsLogger(tmp_path, resume_from_step=200) as logger:
        logger.write(300, {"loss": 30.0, "episode/return_mean100": 8.0})
    assert METRICS_CSV == metrics.METRICS_CSV
    table = metrics.read_metrics(tmp_path)
    assert table.metrics == ["loss", "episode/return_mean100"]
    np.testing.assert_array_equal(table.steps, [100, 200, 300])
    np.testing.assert_array_equal(table.values["loss"], [1, 2, 30])
    x, y = table.curve()
    np.testing.assert_array_equal(x, [300])
    np.testing.assert_array_equal(y, [8])


def test_logger_resume_keeps_the_last_of_a_repeated_step(tmp_path):
    # A file with step 200 twice (as a merge by hand leaves it): on resume the logger keeps the
    # reader's view of it, one row per step, the later one.
    (tmp_path / METRICS_CSV).write_text(
        "step,wall_time,loss\n100,1.0,1\n200,2.0,2\n200,3.0,22\n300,4.0,3\n"
    )
    with MetricsLogger(tmp_path, resume_from_step=250):
        pass
    lines = (tmp_path / METRICS_CSV).read_text().splitlines()
    assert lines == ["step,wall_time,loss", "100,1.0,1", "200,3.0,22"]

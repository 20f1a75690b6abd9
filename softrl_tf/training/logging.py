"""Training metrics: TensorBoard summaries and ``metrics.csv`` of a run directory.

:class:`MetricsLogger` writes every scalar twice: as a ``tf.summary`` scalar (event files directly
under ``root_dir``, so ``tensorboard --logdir runs/`` shows one run per root dir) and as a row of
``<root_dir>/metrics.csv``. The CSV is *wide*: columns ``step, wall_time`` and then one column per
metric name in order of first appearance; a row leaves the metrics it does not carry empty.
A metric name seen for the first time rewrites the file with the wider header (temp file +
``os.replace``, so a crash mid-rewrite keeps the old file); ``pandas.read_csv`` or
:func:`csv.DictReader` read it as is; :mod:`softrl_tf.results.metrics` is the package's reader
(and its rules: a repeated step's last row wins, rows sorted by step, a torn last line dropped),
which this logger uses too when it reopens the file. Each row is written with one ``write`` call
and flushed at once, so a SIGKILL loses nothing already written; a torn last line (a kill inside
the write) is dropped when the file is opened again.

It is written here rather than borrowed: TF-Agents' metrics write ``tf.summary`` only, and Keras's
``CSVLogger`` neither drops the rows a crashed run wrote after its last checkpoint nor widens its
header for metrics that appear later (evaluation, diagnostics). The progress output is Keras's own
(``fit``'s ``verbose``).
"""

from __future__ import annotations

import csv
import io
import os
import time
from collections.abc import Mapping
from typing import Any, TextIO

from softrl_tf.results.metrics import BASE_COLUMNS, METRICS_CSV, read_rows

import tensorflow as tf

__all__ = ["BASE_COLUMNS", "METRICS_CSV", "MetricsLogger"]


def _to_float(value: Any) -> float:
    if hasattr(value, "numpy"):
        value = value.numpy()
    return float(value)


class MetricsLogger:
    """Writes scalar metrics to TensorBoard and ``<root_dir>/metrics.csv``.

    Usage::

        with MetricsLogger(root_dir, resume_from_step=restored_step) as logger:
            logger.write(step, {"train/loss": loss, "episode/return": mean_return})

    Args:
      root_dir: run directory (created if missing); event files and ``metrics.csv`` go in it.
      resume_from_step: ``None`` starts a new ``metrics.csv`` (an existing one is replaced). An
        int ``S`` keeps the existing rows with ``step <= S`` and drops the rest, which a crashed
        run wrote after its last checkpoint, so the table stays monotone when training resumes
        from the checkpoint at step ``S``. (TensorBoard event files are append-only; the crashed
        run's events after ``S`` stay in the older event file.)
      flush_secs: period of the ``tf.summary`` writer's background flush.
    """

    def __init__(
        self,
        root_dir: str | os.PathLike,
        *,
        resume_from_step: int | None = None,
        flush_secs: float = 10.0,
    ):
        self.root_dir = os.fspath(root_dir)
        os.makedirs(self.root_dir, exist_ok=True)
        self.csv_path = os.path.join(self.root_dir, METRICS_CSV)
        self._columns = list(BASE_COLUMNS)
        self._file: TextIO | None = None
        rows: list[dict[str, str]] = []
        if resume_from_step is not None and os.path.exists(self.csv_path):
            header, rows = read_rows(self.csv_path)
            self._columns += [name for name in header if name not in BASE_COLUMNS]
            rows = [row for row in rows if float(row["step"]) <= resume_from_step]
        self._rewrite(rows)
        self._writer = tf.summary.create_file_writer(
            self.root_dir, flush_millis=int(flush_secs * 1000)
        )
        self._closed = False

    @property
    def summary_writer(self):
        """The ``tf.summary`` writer; ``with logger.summary_writer.as_default():`` routes other
        summaries (TF-Agents' own, histograms) to the same event files."""
        return self._writer

    @property
    def columns(self) -> list[str]:
        """The CSV header: ``step, wall_time`` then metric names in order of first appearance."""
        return list(self._columns)

    def _rewrite(self, rows: list[dict[str, str]]) -> None:
        """Replaces the CSV with ``rows`` under the current header, atomically; reopens it."""
        if self._file is not None:
            self._file.close()
        tmp = self.csv_path + ".tmp"
        with open(tmp, "w", encoding="utf-8", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=self._columns, lineterminator="\n")
            writer.writeheader()
            writer.writerows(rows)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.csv_path)
        self._file = open(self.csv_path, "a", encoding="utf-8", newline="")

    def write(self, step: int, scalars: Mapping[str, Any]) -> None:
        """Logs ``scalars`` (name -> number, numpy scalar or scalar tensor) at ``step``.

        Non-finite values are written as they are (``nan``, ``inf``).
        """
        if self._closed:
            raise ValueError("MetricsLogger.write called after close().")
        step = int(step)
        values = {str(name): _to_float(value) for name, value in scalars.items()}
        new = [name for name in values if name not in self._columns]
        if new:
            _, rows = read_rows(self.csv_path)
            self._columns += new
            self._rewrite(rows)
        with self._writer.as_default():
            for name, value in values.items():
                tf.summary.scalar(name, value, step=step)
        line = io.StringIO()
        writer = csv.DictWriter(line, fieldnames=self._columns, lineterminator="\n")
        writer.writerow({"step": step, "wall_time": f"{time.time():.3f}", **values})
        self._file.write(line.getvalue())
        self._file.flush()

    def flush(self) -> None:
        """Flushes the event files (the CSV is flushed on every row)."""
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the CSV and the summary writer; idempotent."""
        if self._closed:
            return
        self._closed = True
        self._file.close()
        self._writer.flush()
        self._writer.close()

    def __enter__(self) -> MetricsLogger:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

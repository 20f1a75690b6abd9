"""The one reader of ``metrics.csv``, the training curve table of a run directory.

The file is the wide table :class:`softrl_tf.training.logging.MetricsLogger` writes: columns
``step, wall_time`` and then one column per metric in order of first appearance, one row per
logged step, an empty cell where a row does not carry a metric. Two things can make the file
differ from "one row per step, steps increasing", and the reader has one rule for each:

* **Repeated steps: the last row written wins, as a whole row.** A run that crashed and resumed
  from its checkpoint at step ``S`` has the logger truncate the rows after ``S``, but a file copied
  or merged by hand before that (or a crash between the checkpoint and the truncation) can hold a
  step twice. The later row is the newer measurement of that step, so it replaces the earlier one
  entirely: a metric the later row leaves empty is missing at that step, not taken from the
  earlier row. Rows are then returned sorted by step.
* **A torn last line** (a run killed inside a write: no final newline) is dropped, as
  ``MetricsLogger`` drops it when it reopens the file.

Only the ``csv`` module and numpy: no TensorFlow.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import os

import numpy as np

METRICS_CSV = "metrics.csv"
"""File name of the metrics table inside a run directory."""
BASE_COLUMNS = ("step", "wall_time")
"""The columns every ``metrics.csv`` starts with; the metrics follow."""
RETURN_METRIC = "episode/return_mean100"
"""The learning-curve metric: mean raw return of the last 100 finished training episodes."""


class MetricsFormatError(ValueError):
    """A file that is not a metrics table: one sentence naming the file and what is wrong."""


@dataclasses.dataclass(frozen=True)
class MetricsTable:
    """A ``metrics.csv`` after the reader's rules: one row per step, sorted by step.

    Attributes:
      path: the file read.
      columns: the header, ``step, wall_time, <metrics>...``.
      values: column -> float64 ``[rows]``, NaN in empty cells; ``values["step"]`` is strictly
        increasing.
    """

    path: str
    columns: tuple[str, ...]
    values: dict[str, np.ndarray]

    @property
    def metrics(self) -> list[str]:
        """The metric columns (the header without ``step`` and ``wall_time``)."""
        return [name for name in self.columns if name not in BASE_COLUMNS]

    @property
    def steps(self) -> np.ndarray:
        """float64 ``[rows]``: the step of each row, strictly increasing."""
        return self.values["step"]

    def curve(self, metric: str = RETURN_METRIC, x: str = "step") -> tuple[np.ndarray, np.ndarray]:
        """``(x [n], y [n])``: the rows where both ``x`` and ``metric`` are finite, by step.

        Raises:
          MetricsFormatError: the table has no such column (the message lists those it has).
        """
        for column in (x, metric):
            if column not in self.values:
                is_metric = column == metric and column not in BASE_COLUMNS
                available = ", ".join(self.metrics if is_metric else self.columns) or "none"
                what = "metric" if is_metric else "column"
                raise MetricsFormatError(
                    f"{self.path} has no {what} {column!r}; available: {available}."
                )
        xs, ys = self.values[x], self.values[metric]
        keep = np.isfinite(xs) & np.isfinite(ys)
        return xs[keep], ys[keep]


def _float(text: str, path: str, column: str) -> float:
    text = text.strip()
    if not text:
        return float("nan")
    try:
        return float(text)
    except ValueError:
        raise MetricsFormatError(
            f"{path} has a non-numeric value {text!r} in column {column!r}."
        ) from None


def read_rows(path: str | os.PathLike) -> tuple[list[str], list[dict[str, str]]]:
    """The header and the rows of a ``metrics.csv`` as text, under the module's rules.

    This is the reader; :func:`read_metrics` converts its rows to numbers, and
    :class:`~softrl_tf.training.logging.MetricsLogger` rewrites them as they are on resume.

    Args:
      path: the file, or a run directory holding ``metrics.csv``.

    Returns:
      ``(header, rows)``: the column names, and one ``{column: cell}`` per distinct step (the last
      row written for it), sorted by step; a short row's missing cells are ``""``.

    Raises:
      MetricsFormatError: not UTF-8 text, no ``step`` column, or a row whose step is empty or
        not a number.
      FileNotFoundError: the file does not exist.
    """
    path = _csv_path(path)
    try:
        with open(path, encoding="utf-8", newline="") as f:
            text = f.read()
    except UnicodeDecodeError:
        raise MetricsFormatError(
            f"{path} is not a metrics table: it is not UTF-8 text (a binary or damaged file)."
        ) from None
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    if "\0" in text:
        raise MetricsFormatError(f"{path} is not a metrics table: it holds NUL bytes (damaged).")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or "step" not in header:
        raise MetricsFormatError(f"{path} is not a metrics table: its header has no 'step' column.")
    step_index = header.index("step")
    by_step: dict[float, dict[str, str]] = {}
    for cells in reader:
        if not any(cell.strip() for cell in cells):
            continue
        cells = cells + [""] * (len(header) - len(cells))
        step = _float(cells[step_index], path, "step")
        if not np.isfinite(step):
            raise MetricsFormatError(f"{path} has a row without a step: {','.join(cells)!r}.")
        by_step.pop(step, None)  # the last row written for a step replaces the whole earlier row
        by_step[step] = dict(zip(header, cells, strict=False))
    return header, [by_step[step] for step in sorted(by_step)]


def read_metrics(path: str | os.PathLike) -> MetricsTable:
    """Reads a ``metrics.csv`` under the module's rules (see the module docstring).

    Args:
      path: the file, or a run directory holding ``metrics.csv``.

    Returns:
      A :class:`MetricsTable` with one row per distinct step, sorted by step.

    Raises:
      MetricsFormatError: no ``step`` column, a non-numeric cell, or a row without a step.
      FileNotFoundError: the file does not exist.
    """
    path = _csv_path(path)
    header, rows = read_rows(path)
    values = {
        name: np.array([_float(row[name], path, name) for row in rows], dtype=np.float64)
        for name in header
    }
    return MetricsTable(path=path, columns=tuple(header), values=values)


def _csv_path(path: str | os.PathLike) -> str:
    path = os.fspath(path)
    return os.path.join(path, METRICS_CSV) if os.path.isdir(path) else path

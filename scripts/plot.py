#!/usr/bin/env python
"""Learning curves from the ``metrics.csv`` files of training runs, in the paper's figure style.

    scripts/plot.py runs/a2c-naive-s0 runs/a2c-naive-s1 runs/a2c-proper-s0 runs/a2c-proper-s1 \\
        --out figures/a2c.png
    scripts/plot.py runs/ --out figures/all.png --band=minmax
    scripts/plot.py runs/softq-* --label-by=agent.tau,train.env --metric=train/loss --out loss.png

Each root dir is a run directory written by ``scripts/train.py`` (``metrics.csv`` and
``config.json`` in it), or a directory with such run directories somewhere below it. Runs are
grouped into curves by a label: by default the agent and its ``entropy_mode`` (a2c, softq) or
``backup`` (softdqn) read from ``config.json``; ``--label-by`` picks config fields instead and
``--labels`` names the root dirs by hand. Each curve is the mean over its runs (the seeds), with a
shaded band of +-1 standard deviation or min/max across them; runs are linearly interpolated onto a
common step grid spanning the steps that all of the curve's runs reached. Runs on different
environments (``config.json``'s ``train.env``) go to separate panels, one per game, as in the
paper's figures.

``metrics.csv`` is the wide table of :class:`softrl_tf.training.logging.MetricsLogger`: columns
``step, wall_time`` and one per metric, empty cells where a row does not carry a metric. It is read
here with the csv module, without TensorFlow, so that plotting stays quick.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import io
import json
import math
import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

PROG = "plot.py"
METRICS_CSV = "metrics.csv"  # softrl_tf.training.logging.METRICS_CSV
CONFIG_JSON = "config.json"
BASE_COLUMNS = ("step", "wall_time")
DEFAULT_METRIC = "episode/return_mean100"
AXIS_LABELS = {
    "step": "Environment steps",
    "wall_time": "Wall-clock time (s)",
    "episode/return_mean100": "Mean episode return (last 100 episodes)",
}
BANDS = ("std", "minmax", "none")


class PlotError(Exception):
    """Bad input: ``main`` prints the message as one sentence and exits with status 2."""


@dataclasses.dataclass
class Run:
    """One training run: its ``metrics.csv`` columns and its ``config.json`` (None if absent).

    Attributes:
      root_dir: the run directory.
      columns: the CSV header, ``step, wall_time, <metrics>...``.
      values: column -> float64 ``[rows]``, NaN in empty cells.
      config: the parsed ``config.json`` (``{"train": {...}, "agent": {...}}``) or None.
    """

    root_dir: str
    columns: list[str]
    values: dict[str, np.ndarray]
    config: dict[str, Any] | None

    @property
    def metrics(self) -> list[str]:
        """The metric columns (the header without ``step`` and ``wall_time``)."""
        return [name for name in self.columns if name not in BASE_COLUMNS]

    def curve(self, x: str, metric: str) -> tuple[np.ndarray, np.ndarray]:
        """``(x, y)`` of the rows where both are finite, sorted by x; a repeated x keeps its last
        row (a resumed run rewrites the steps after its checkpoint)."""
        for column in (x, metric):
            if column not in self.values:
                available = ", ".join(self.metrics if column == metric else self.columns) or "none"
                what = "metric" if column == metric else "column"
                raise PlotError(
                    f"{os.path.join(self.root_dir, METRICS_CSV)} has no {what} {column!r}; "
                    f"available: {available}."
                )
        xs, ys = self.values[x], self.values[metric]
        keep = np.isfinite(xs) & np.isfinite(ys)
        xs, ys = xs[keep], ys[keep]
        # Reverse, take the first of each x (= the last written), then sort by x.
        unique_x, first = np.unique(xs[::-1], return_index=True)
        return unique_x, ys[::-1][first]


def read_metrics(path: str) -> tuple[list[str], dict[str, np.ndarray]]:
    """Header and float columns of a ``metrics.csv`` (empty cells are NaN).

    A torn last line (a run killed inside a write) is dropped, as ``MetricsLogger`` does.
    """
    with open(path, encoding="utf-8", newline="") as f:
        text = f.read()
    if text and not text.endswith("\n"):
        text = text[: text.rfind("\n") + 1]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header or "step" not in header:
        raise PlotError(f"{path} is not a metrics table (its header has no 'step' column).")
    rows = [row for row in reader if row]
    columns: dict[str, np.ndarray] = {}
    for index, name in enumerate(header):
        cells = [row[index] if index < len(row) else "" for row in rows]
        try:
            columns[name] = np.array([float(c) if c.strip() else np.nan for c in cells], float)
        except ValueError as error:
            raise PlotError(
                f"{path} has a non-numeric value in column {name!r} ({error})."
            ) from None
    return header, columns


def find_run_dirs(root: str) -> list[str]:
    """``root`` if it holds ``metrics.csv``, else every directory below it that does (sorted)."""
    if not os.path.isdir(root):
        raise PlotError(f"{root} is not a directory.")
    if os.path.isfile(os.path.join(root, METRICS_CSV)):
        return [root]
    found = sorted(dirpath for dirpath, _, filenames in os.walk(root) if METRICS_CSV in filenames)
    if not found:
        raise PlotError(
            f"{root} has no {METRICS_CSV}, nor any run directory below it with one: point at the "
            "--root-dir of a training run."
        )
    return found


def load_run(root_dir: str) -> Run:
    """Reads ``<root_dir>/metrics.csv`` and, if present, ``<root_dir>/config.json``."""
    columns, values = read_metrics(os.path.join(root_dir, METRICS_CSV))
    config = None
    config_path = os.path.join(root_dir, CONFIG_JSON)
    if os.path.isfile(config_path):
        try:
            with open(config_path, encoding="utf-8") as f:
                config = json.load(f)
        except ValueError as error:
            raise PlotError(f"{config_path} is not valid JSON ({error}).") from None
    return Run(root_dir=root_dir, columns=columns, values=values, config=config)


def _format(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def default_label(run: Run) -> str:
    """``agent (entropy_mode)`` or ``agent (backup)`` from ``config.json``; the directory name
    when there is no config."""
    if not run.config:
        return os.path.basename(os.path.normpath(run.root_dir))
    agent = run.config.get("train", {}).get("agent", "?")
    agent_config = run.config.get("agent") or {}
    variant = [str(agent_config[key]) for key in ("entropy_mode", "backup") if key in agent_config]
    return f"{agent} ({', '.join(variant)})" if variant else str(agent)


def config_value(run: Run, field: str) -> Any:
    """The value of ``field`` in a run's config: ``section.name`` (``agent.tau``,
    ``train.seed``) or a bare name looked up in ``train`` and then ``agent``."""
    config = run.config
    if config is None:
        raise PlotError(
            f"--label-by needs {os.path.join(run.root_dir, CONFIG_JSON)}, which is missing."
        )
    section, _, name = field.rpartition(".")
    sections = [section] if section else ["train", "agent"]
    for key in sections:
        values = config.get(key)
        if isinstance(values, dict) and name in values:
            return values[name]
    available = sorted(
        f"{key}.{name}" for key in ("train", "agent") for name in (config.get(key) or {})
    )
    raise PlotError(
        f"{os.path.join(run.root_dir, CONFIG_JSON)} has no field {field!r}; available: "
        f"{', '.join(available)}."
    )


def label_by(run: Run, fields: Sequence[str]) -> str:
    """``field=value`` pairs of config fields, joined by commas (just the value for one field)."""
    if len(fields) == 1:
        return _format(config_value(run, fields[0]))
    return ", ".join(f"{field}={_format(config_value(run, field))}" for field in fields)


def panel_of(run: Run) -> str | None:
    """The run's environment id (``train.env``), or None without a config."""
    if not run.config:
        return None
    return run.config.get("train", {}).get("env")


@dataclasses.dataclass
class Curve:
    """Runs aggregated on a common grid: ``x [G]``, and ``mean, std, low, high [G]`` across runs."""

    label: str
    runs: int
    x: np.ndarray
    mean: np.ndarray
    std: np.ndarray
    low: np.ndarray
    high: np.ndarray


def aggregate(
    label: str, curves: Sequence[tuple[np.ndarray, np.ndarray]], max_points: int = 500
) -> Curve:
    """Mean, population std (``ddof=0``), min and max across runs on a common x grid.

    The grid is every x of any run inside ``[max of first x, min of last x]`` (the range that all
    runs reached), or ``max_points`` evenly spaced points when that is more; each run is linearly
    interpolated onto it (``np.interp``).

    Args:
      label: the curve's label.
      curves: one ``(x [n_i], y [n_i])`` per run, x sorted and unique.
      max_points: the largest grid.

    Raises:
      PlotError: when a run is empty or the runs' x ranges do not overlap.
    """
    curves = list(curves)
    if any(len(x) == 0 for x, _ in curves):
        raise PlotError(f"A run of {label!r} has no values to plot.")
    low_x = max(float(x[0]) for x, _ in curves)
    high_x = min(float(x[-1]) for x, _ in curves)
    if low_x > high_x:
        raise PlotError(
            f"The runs of {label!r} cover x ranges that do not overlap, so they cannot be "
            "averaged: give them different labels (--labels) or plot them separately."
        )
    grid = np.unique(np.concatenate([x[(x >= low_x) & (x <= high_x)] for x, _ in curves]))
    if len(grid) > max_points:
        grid = np.linspace(low_x, high_x, max_points)
    ys = np.stack([np.interp(grid, x, y) for x, y in curves])
    return Curve(
        label=label,
        runs=len(curves),
        x=grid,
        mean=ys.mean(axis=0),
        std=ys.std(axis=0),
        low=ys.min(axis=0),
        high=ys.max(axis=0),
    )


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = _Parser(
        prog=PROG,
        description=(
            "Plot learning curves from the metrics.csv files of softrl_tf training runs: the mean "
            "over the runs (seeds) of each label with a shaded band, one panel per environment."
        ),
        epilog="Exit status: 0 on success, 2 on bad input (the reason in one sentence on stderr).",
    )
    parser.add_argument(
        "root_dirs",
        nargs="+",
        metavar="ROOT_DIR",
        help="Run directories (the --root-dir of scripts/train.py, holding metrics.csv), or "
        "directories with run directories below them.",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="Output image; the format follows the extension (.png, .pdf, .svg).",
    )
    parser.add_argument(
        "--metric",
        default=DEFAULT_METRIC,
        help="metrics.csv column for the y axis (default: %(default)s).",
    )
    parser.add_argument(
        "--x", default="step", help="metrics.csv column for the x axis (default: %(default)s)."
    )
    labels = parser.add_mutually_exclusive_group()
    labels.add_argument(
        "--label-by",
        type=lambda text: [field.strip() for field in text.split(",") if field.strip()],
        metavar="FIELD[,FIELD...]",
        help="Group runs by these config.json fields: section.name (agent.tau, train.seed) or a "
        "bare name (looked up in train, then agent). Default: the agent and its entropy_mode or "
        "backup.",
    )
    labels.add_argument(
        "--labels",
        nargs="+",
        metavar="LABEL",
        help="One label per ROOT_DIR, in order; root dirs with the same label form one curve "
        "(give it after the ROOT_DIRs).",
    )
    parser.add_argument(
        "--band",
        choices=BANDS,
        default="std",
        help="Shaded band across runs: mean +- 1 std, min to max, or none (default: %(default)s).",
    )
    parser.add_argument(
        "--x-scale",
        type=float,
        default=1.0,
        metavar="K",
        help="Multiply x by K, e.g. 4 to show Atari frames (4 per agent step) as the paper does.",
    )
    parser.add_argument("--xlabel", help="x-axis label (default: from --x and --x-scale).")
    parser.add_argument("--ylabel", help="y-axis label (default: from --metric).")
    parser.add_argument("--title", help="Figure title (default: the environment, for one panel).")
    parser.add_argument(
        "--max-points",
        type=int,
        default=500,
        metavar="N",
        help="Largest number of grid points per curve (default: %(default)s).",
    )
    return parser


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help).\n")


def collect(args: argparse.Namespace) -> dict[str | None, dict[str, list[Run]]]:
    """Runs grouped as ``{panel (env id): {label: [runs]}}``, in order of first appearance."""
    if args.labels is not None and len(args.labels) != len(args.root_dirs):
        raise PlotError(
            f"--labels got {len(args.labels)} labels for {len(args.root_dirs)} root dirs: give "
            "one label per root dir."
        )
    panels: dict[str | None, dict[str, list[Run]]] = {}
    for index, root in enumerate(args.root_dirs):
        for run_dir in find_run_dirs(root):
            run = load_run(run_dir)
            if args.labels is not None:
                label = args.labels[index]
            elif args.label_by:
                label = label_by(run, args.label_by)
            else:
                label = default_label(run)
            panels.setdefault(panel_of(run), {}).setdefault(label, []).append(run)
    return panels


def draw(
    panels: dict[str | None, dict[str, list[Run]]], args: argparse.Namespace
) -> tuple[Any, int]:
    """The matplotlib figure and the number of curves drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = list(dict.fromkeys(label for groups in panels.values() for label in groups))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    color_of = {label: colors[i % len(colors)] for i, label in enumerate(labels)}
    n = len(panels)
    ncols = min(n, 3)
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(4.8 * ncols, 3.6 * nrows), squeeze=False, layout="constrained"
    )
    try:
        drawn = _draw_panels(axes, panels, color_of, args)
    except BaseException:
        plt.close(fig)
        raise
    for ax in list(axes.flat)[n:]:
        ax.set_visible(False)
    if args.title:
        fig.suptitle(args.title)
    return fig, drawn


def _draw_panels(axes, panels, color_of, args) -> int:
    """Draws each panel's curves on its axes; returns the number of curves drawn."""
    n = len(panels)
    drawn = 0
    for ax, (panel, groups) in zip(axes.flat, panels.items(), strict=False):
        for label, runs in groups.items():
            curves = []
            for run in runs:
                x, y = run.curve(args.x, args.metric)
                if len(x) == 0:
                    print(
                        f"{PROG}: warning: {os.path.join(run.root_dir, METRICS_CSV)} has no "
                        f"{args.metric!r} values yet; left out.",
                        file=sys.stderr,
                    )
                    continue
                curves.append((x * args.x_scale, y))
            if not curves:
                continue
            curve = aggregate(label, curves, args.max_points)
            color = color_of[label]
            ax.plot(curve.x, curve.mean, color=color, lw=1.5, label=f"{label} (n={curve.runs})")
            if curve.runs > 1 and args.band != "none":
                low, high = (
                    (curve.mean - curve.std, curve.mean + curve.std)
                    if args.band == "std"
                    else (curve.low, curve.high)
                )
                ax.fill_between(curve.x, low, high, color=color, alpha=0.25, lw=0)
            drawn += 1
        if panel is not None and (n > 1 or args.title is None):
            ax.set_title(panel)
        ax.set_xlabel(args.xlabel or _x_label(args.x, args.x_scale))
        ax.set_ylabel(args.ylabel or AXIS_LABELS.get(args.metric, args.metric))
        ax.grid(alpha=0.3)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 4), useMathText=True)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize="small", frameon=False)
    return drawn


def _x_label(x: str, scale: float) -> str:
    if scale == 1:
        return AXIS_LABELS.get(x, x)
    if x == "step":
        return f"Frames ({scale:g} per environment step)"
    return f"{AXIS_LABELS.get(x, x)} x {scale:g}"


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 on bad input)."""
    args = build_parser().parse_args(argv)
    try:
        if not (args.x_scale > 0 and math.isfinite(args.x_scale)):
            raise PlotError(f"--x-scale must be a finite number > 0, got {args.x_scale}.")
        if args.max_points < 2:
            raise PlotError(f"--max-points must be >= 2, got {args.max_points}.")
        panels = collect(args)
        fig, drawn = draw(panels, args)
        try:
            if drawn == 0:
                raise PlotError(f"No run has any {args.metric!r} values to plot yet.")
            out = os.path.abspath(args.out)
            os.makedirs(os.path.dirname(out), exist_ok=True)
            try:
                fig.savefig(out, dpi=150)
            except ValueError as error:  # matplotlib: unknown format
                raise PlotError(f"Cannot write {args.out}: {str(error).rstrip('.')}.") from None
        finally:
            import matplotlib.pyplot as plt

            plt.close(fig)
    except PlotError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    runs = sum(len(runs) for groups in panels.values() for runs in groups.values())
    print(f"wrote {out} ({drawn} curve{'s' * (drawn != 1)} from {runs} run{'s' * (runs != 1)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

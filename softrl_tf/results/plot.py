"""``softrl-plot``: learning curves from the ``metrics.csv`` files of training runs.

    softrl-plot runs/a2c-naive-s0 runs/a2c-naive-s1 runs/a2c-proper-s0 --out figures/a2c.png
    softrl-plot runs/ --out figures/all.png
    softrl-plot runs/softq-* --label-by=agent.tau,train.env --metric=train/loss --out loss.png

Each ROOT_DIR is a run directory written by ``softrl-train`` (``metrics.csv`` and ``config.json``
in it), or a directory with such run directories somewhere below it. Runs are grouped into curves
by a label: by default the agent and its ``entropy_mode`` (a2c, softq) or ``backup`` (softdqn)
read from ``config.json``; ``--label-by`` picks config fields instead and ``--labels`` names the
root dirs by hand. Each curve is the mean over its runs (the seeds) with the band
:data:`softrl_tf.results.stats.BAND`, on the steps that all of the curve's runs reached (see
:func:`softrl_tf.results.stats.aggregate`). Runs on different environments (``config.json``'s
``train.env``) go to separate panels, one per game, as in the paper's figures.

No TensorFlow: the command starts in well under a second. Exit status: 0 on success, 2 on bad
input (one sentence on stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
from collections.abc import Sequence
from typing import Any

from softrl_tf.config import CONFIG_JSON
from softrl_tf.results import figures
from softrl_tf.results.metrics import (
    METRICS_CSV,
    RETURN_METRIC,
    MetricsFormatError,
    MetricsTable,
    read_metrics,
)
from softrl_tf.results.stats import BAND, MAX_POINTS, AggregationError

PROG = "softrl-plot"


class PlotError(Exception):
    """Bad input: :func:`main` prints the message as one sentence and exits with status 2."""


class _Parser(argparse.ArgumentParser):
    """An ``ArgumentParser`` whose errors are one line (no usage block), status 2."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see --help).\n")


@dataclasses.dataclass
class Run:
    """One training run: its metrics table and its ``config.json`` (None if absent).

    Attributes:
      root_dir: the run directory.
      table: its ``metrics.csv`` (:func:`softrl_tf.results.metrics.read_metrics`).
      config: the parsed ``config.json`` (``{"train": {...}, "agent": {...}}``) or None.
    """

    root_dir: str
    table: MetricsTable
    config: dict[str, Any] | None


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
    try:
        table = read_metrics(os.path.join(root_dir, METRICS_CSV))
    except MetricsFormatError as error:
        raise PlotError(str(error)) from None
    config = None
    config_path = os.path.join(root_dir, CONFIG_JSON)
    if os.path.isfile(config_path):
        try:
            with open(config_path, encoding="utf-8") as f:
                config = json.load(f)
        except ValueError as error:
            raise PlotError(f"{config_path} is not valid JSON ({error}).") from None
    return Run(root_dir=root_dir, table=table, config=config)


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
    for key in [section] if section else ["train", "agent"]:
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


def build_parser() -> argparse.ArgumentParser:
    """The command-line parser."""
    parser = _Parser(
        prog=PROG,
        description=(
            "Plot learning curves from the metrics.csv files of softrl_tf training runs: the "
            f"mean over the runs (seeds) of each label, shaded: {BAND}; one panel per environment."
        ),
        epilog="Exit status: 0 on success, 2 on bad input (the reason in one sentence on stderr).",
    )
    parser.add_argument(
        "root_dirs",
        nargs="+",
        metavar="ROOT_DIR",
        help="Run directories (the --root-dir of softrl-train, holding metrics.csv), or "
        "directories with run directories below them.",
    )
    parser.add_argument(
        "--out",
        required=True,
        help="Output image; the format follows the extension (.png, .pdf, .svg).",
    )
    parser.add_argument(
        "--metric",
        default=RETURN_METRIC,
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
    parser.add_argument("--xlabel", help="x-axis label (default: from --x).")
    parser.add_argument("--ylabel", help="y-axis label (default: from --metric).")
    parser.add_argument("--title", help="Figure title (default: none; panels name their env).")
    parser.add_argument(
        "--max-points",
        type=int,
        default=MAX_POINTS,
        metavar="N",
        help="Largest number of grid points per curve (default: %(default)s).",
    )
    return parser


def collect(args: argparse.Namespace) -> dict[str | None, dict[str, list[Run]]]:
    """Runs grouped as ``{panel (env id): {label: [runs]}}``, in order of first appearance."""
    if args.labels is not None and len(args.labels) != len(args.root_dirs):
        raise PlotError(
            f"--labels got {len(args.labels)} labels for {len(args.root_dirs)} root dirs: give "
            "one label per root dir."
        )
    panels: dict[str | None, dict[str, list[Run]]] = {}
    for index, root in enumerate(args.root_dirs):
        for run_dir in find_run_dirs(str(root)):
            run = load_run(run_dir)
            if args.labels is not None:
                label = args.labels[index]
            elif args.label_by:
                label = label_by(run, args.label_by)
            else:
                label = default_label(run)
            panels.setdefault(panel_of(run), {}).setdefault(label, []).append(run)
    return panels


def curves_of(panels: dict[str | None, dict[str, list[Run]]], args: argparse.Namespace):
    """The ``(x, y)`` curves of every run, grouped as the runs are (:data:`figures.Panels`);
    runs without values yet are left out with a warning on stderr (when there is anything else
    to plot: otherwise the error alone says so)."""
    out: dict[str | None, dict[str, list]] = {}
    warnings: list[str] = []
    for panel, groups in panels.items():
        for label, runs in groups.items():
            for run in runs:
                try:
                    x, y = run.table.curve(args.metric, x=args.x)
                except MetricsFormatError as error:
                    raise PlotError(str(error)) from None
                if len(x) == 0:
                    warnings.append(
                        f"{PROG}: warning: {run.table.path} has no {args.metric!r} values yet; "
                        "left out."
                    )
                    continue
                out.setdefault(panel, {}).setdefault(label, []).append((x, y))
    if out:
        for warning in warnings:
            print(warning, file=sys.stderr)
    return out


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; returns the exit status (2 on bad input)."""
    args = build_parser().parse_args(None if argv is None else [str(a) for a in argv])
    try:
        if args.max_points < 2:
            raise PlotError(f"--max-points must be >= 2, got {args.max_points}.")
        panels = collect(args)
        curves = curves_of(panels, args)
        if not curves:
            raise PlotError(f"No run has any {args.metric!r} values to plot yet.")
        try:
            fig, drawn = figures.learning_curves(
                curves,
                title=args.title,
                xlabel=args.xlabel or figures.axis_label(args.x),
                ylabel=args.ylabel or figures.axis_label(args.metric),
                max_points=args.max_points,
            )
        except AggregationError as error:
            raise PlotError(
                f"{str(error).rstrip('.')}: give them different labels (--labels) or plot them "
                "separately."
            ) from None
        try:
            out = figures.save(fig, os.path.abspath(args.out))
        except ValueError as error:  # matplotlib: unknown format
            raise PlotError(f"Cannot write {args.out}: {str(error).rstrip('.')}.") from None
        except OSError as error:  # a missing or unwritable directory, a full disk
            reason = error.strerror or str(error)
            raise PlotError(
                f"Cannot write {args.out}: {reason}; choose an --out in a writable directory."
            ) from None
    except PlotError as error:
        print(f"{PROG}: error: {error}", file=sys.stderr)
        return 2
    runs = sum(len(runs) for groups in panels.values() for runs in groups.values())
    print(f"wrote {out} ({drawn} curve{'s' * (drawn != 1)} from {runs} run{'s' * (runs != 1)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

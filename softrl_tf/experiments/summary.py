"""Summary tables of training experiments: final and area-under-curve returns over seeds.

For every run the curve is ``episode/return_mean100`` of its ``metrics.csv`` against environment
steps: the mean raw return of the last 100 finished training episodes (the behaviour policy's,
exploration included), as the training loop logs it. Two numbers per run:

* **final**: the curve's last value, i.e. the mean return of the last 100 episodes of training;
* **AUC**: the area under the curve divided by the steps it spans (trapezoid rule over the logged
  rows from the first one with a value to the last), i.e. the average of the curve over training
  in return units; it rewards learning early as well as well.

Per (environment, variant) over seeds: the mean and the 95% t interval of
:func:`softrl_tf.results.stats.mean_interval`; no interval for a single seed. Reading
(:func:`softrl_tf.results.metrics.read_metrics`) and the statistics live in
:mod:`softrl_tf.results`; this module lays them out per experiment.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass, field

from softrl_tf.experiments.runner import RUN_JSON, run_dir
from softrl_tf.experiments.specs import TrainingExperiment
from softrl_tf.results.metrics import METRICS_CSV, RETURN_METRIC, read_metrics
from softrl_tf.results.stats import area_under_curve, final_return, mean_interval

import numpy as np

SUMMARY_CSV = "summary.csv"
SUMMARY_MD = "summary.md"


@dataclass
class RunCurve:
    """One run's curve and numbers.

    Attributes:
      name, variant, env, seed: from the run's spec.
      steps, values: the return curve.
      final, auc: see the module docstring.
      total_steps: the budget; status: from ``run.json`` (``missing`` without one).
      wall_s: training time (summed over attempts; 0 for copied runs).
    """

    name: str
    variant: str
    env: str
    seed: int
    steps: np.ndarray
    values: np.ndarray
    final: float
    auc: float
    total_steps: int
    status: str
    wall_s: float = 0.0


@dataclass
class SummaryRow:
    """One (environment, variant) over its seeds."""

    env: str
    variant: str
    seeds: list[int] = field(default_factory=list)
    total_steps: int = 0
    final_mean: float = float("nan")
    final_low: float = float("nan")
    final_high: float = float("nan")
    auc_mean: float = float("nan")
    auc_low: float = float("nan")
    auc_high: float = float("nan")
    finals: list[float] = field(default_factory=list)
    aucs: list[float] = field(default_factory=list)
    wall_s: float = 0.0

    def as_dict(self) -> dict:
        """A flat dict for CSV (seed lists joined by spaces)."""
        out = dict(self.__dict__)
        out["seeds"] = " ".join(map(str, self.seeds))
        out["finals"] = " ".join(f"{v:.6g}" for v in self.finals)
        out["aucs"] = " ".join(f"{v:.6g}" for v in self.aucs)
        out["n"] = len(self.seeds)
        return out


def load_runs(experiment: TrainingExperiment, results_dir: str, quick: bool = False):
    """A :class:`RunCurve` for every run of ``experiment`` that has a ``metrics.csv`` (an empty
    curve while no episode has ended)."""
    runs = []
    for spec in experiment.runs(quick=quick):
        directory = run_dir(results_dir, spec)
        path = os.path.join(directory, METRICS_CSV)
        if not os.path.isfile(path):
            continue
        table = read_metrics(path)
        if RETURN_METRIC in table.columns:
            steps, values = table.curve(RETURN_METRIC)
        else:  # no episode has ended yet (e.g. a short Atari run): the column starts with one
            steps = values = np.empty(0)
        record = {}
        if os.path.isfile(os.path.join(directory, RUN_JSON)):
            with open(os.path.join(directory, RUN_JSON), encoding="utf-8") as f:
                record = json.load(f)
        wall = 0.0 if record.get("copied_from") else float(record.get("wall_s", 0.0))
        runs.append(
            RunCurve(
                name=spec.name,
                variant=spec.variant,
                env=spec.env,
                seed=spec.seed,
                steps=steps,
                values=values,
                final=final_return(steps, values),
                auc=area_under_curve(steps, values),
                total_steps=spec.total_steps,
                status=record.get("status", "missing"),
                wall_s=wall,
            )
        )
    return runs


def summarize_runs(runs: Sequence[RunCurve], finished_only: bool = True) -> list[SummaryRow]:
    """One :class:`SummaryRow` per (environment, variant), in order of first appearance."""
    rows: dict[tuple[str, str], SummaryRow] = {}
    for run in runs:
        if finished_only and run.status != "finished":
            continue
        row = rows.setdefault((run.env, run.variant), SummaryRow(run.env, run.variant))
        row.seeds.append(run.seed)
        row.finals.append(run.final)
        row.aucs.append(run.auc)
        row.total_steps = run.total_steps
        row.wall_s += run.wall_s
    for row in rows.values():
        row.final_mean, row.final_low, row.final_high = mean_interval(row.finals)
        row.auc_mean, row.auc_low, row.auc_high = mean_interval(row.aucs)
    return list(rows.values())


def _cell(mean: float, low: float, high: float) -> str:
    if not math.isfinite(mean):
        return "n/a"
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"{mean:.3g}"
    return f"{mean:.3g} [{low:.3g}, {high:.3g}]"


def markdown_table(rows: Sequence[SummaryRow], descriptions: dict[str, str] | None = None) -> str:
    """The summary as a Markdown table: mean [95% interval] of final return and AUC."""
    lines = [
        "| environment | variant | seeds | steps | final return, mean [95% CI] | "
        "AUC return, mean [95% CI] |",
        "|---|---|---|---|---|---|",
    ]
    for row in rows:
        variant = row.variant
        if descriptions and descriptions.get(row.variant):
            variant = f"{row.variant} ({descriptions[row.variant]})"
        lines.append(
            f"| {row.env} | {variant} | {len(row.seeds)} | {row.total_steps:,} | "
            f"{_cell(row.final_mean, row.final_low, row.final_high)} | "
            f"{_cell(row.auc_mean, row.auc_low, row.auc_high)} |"
        )
    return "\n".join(lines) + "\n"


def write_summary(rows: Sequence[SummaryRow], out_dir: str, header: str = "") -> str:
    """Writes ``summary.csv`` and ``summary.md`` under ``out_dir``; returns the Markdown."""
    os.makedirs(out_dir, exist_ok=True)
    fields = [
        "env",
        "variant",
        "n",
        "seeds",
        "total_steps",
        "final_mean",
        "final_low",
        "final_high",
        "auc_mean",
        "auc_low",
        "auc_high",
        "finals",
        "aucs",
        "wall_s",
    ]
    with open(os.path.join(out_dir, SUMMARY_CSV), "w", encoding="utf-8", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow(row.as_dict())
    text = header + markdown_table(rows)
    with open(os.path.join(out_dir, SUMMARY_MD), "w", encoding="utf-8") as f:
        f.write(text)
    return text


def summarize(
    experiment: TrainingExperiment, results_dir: str, quick: bool = False, write: bool = True
) -> tuple[list[SummaryRow], str]:
    """Loads the finished runs of ``experiment``, and (with ``write``) writes its summary files
    under ``<results_dir>/<experiment>/``. Returns the rows and the Markdown table."""
    rows = summarize_runs(load_runs(experiment, results_dir, quick=quick))
    descriptions = {v.name: v.description for v in experiment.variants}
    header = (
        f"# {experiment.title}\n\n"
        "Final: mean return of the last 100 training episodes at the end of training. "
        "AUC: the average of that curve over training. Mean over seeds with a 95% t interval.\n\n"
        + "".join(f"- `{name}`: {text}\n" for name, text in descriptions.items() if text)
        + "\n"
    )
    if write:
        text = write_summary(rows, os.path.join(results_dir, experiment.name), header)
    else:
        text = header + markdown_table(rows)
    return rows, text

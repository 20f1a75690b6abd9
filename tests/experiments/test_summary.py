"""Summary tables from synthetic metrics.csv files: final return, AUC, mean and 95% interval.

The reader and the statistics themselves are tested in tests/results.
"""

import csv
import json
import math
import os

from softrl_tf.experiments import summary
from softrl_tf.experiments.specs import EnvBudget, TrainingExperiment, Variant
from softrl_tf.results.metrics import RETURN_METRIC as METRIC
from softrl_tf.training.logging import MetricsLogger

import pytest


def _write_metrics(root, rows):
    """A metrics.csv as the training loop writes it: ``rows`` are (step, return or None)."""
    with MetricsLogger(root) as logger:
        for step, value in rows:
            scalars = {"train/loss": 1.0}
            if value is not None:
                scalars[METRIC] = value
            logger.write(step, scalars)
    return os.path.join(root, "metrics.csv")


EXPERIMENT = TrainingExperiment(
    name="synthetic",
    title="Synthetic",
    description="",
    variants=(Variant("a", "a2c", {}, "variant a"), Variant("b", "a2c", {"tau": 0.1})),
    envs=(EnvBudget("CartPole-v1", total_steps=3000),),
    seeds=(0, 1, 2),
)


def _write_experiment(results_dir):
    """Runs of EXPERIMENT: curves (10, 20, 40) * (1 + seed) for a, (5, 5, 5 + 2 seed) for b."""
    curves = {}
    for spec in EXPERIMENT.runs():
        directory = os.path.join(results_dir, spec.experiment, spec.name)
        os.makedirs(directory)
        scale = 1.0 + spec.seed  # seeds 0, 1, 2
        if spec.variant == "a":
            values = [10 * scale, 20 * scale, 40 * scale]
        else:
            values = [5.0, 5.0, 5.0 + 2 * spec.seed]
        _write_metrics(directory, [(0, None)] + list(zip([1000, 2000, 3000], values, strict=True)))
        status = "finished" if not (spec.variant == "b" and spec.seed == 2) else "interrupted"
        with open(os.path.join(directory, "run.json"), "w") as f:
            json.dump({"status": status, "wall_s": 10.0}, f)
        curves[spec.name] = values
    return curves


def test_summarize_by_hand(tmp_path):
    _write_experiment(str(tmp_path))
    rows, text = summary.summarize(EXPERIMENT, str(tmp_path))
    a, b = rows
    assert (a.env, a.variant, a.seeds, a.total_steps) == ("CartPole-v1", "a", [0, 1, 2], 3000)
    # Finals 40, 80, 120: mean 80, std 40, half 4.302652729749464 * 40 / sqrt(3) = 99.3655...
    assert a.finals == [40.0, 80.0, 120.0]
    half = 4.302652729749464 * 40 / math.sqrt(3)
    assert (a.final_mean, a.final_low, a.final_high) == pytest.approx((80, 80 - half, 80 + half))
    # AUCs 22.5 * (1, 2, 3) = 22.5, 45, 67.5: mean 45, std 22.5.
    assert a.aucs == pytest.approx([22.5, 45.0, 67.5])
    half = 4.302652729749464 * 22.5 / math.sqrt(3)
    assert (a.auc_mean, a.auc_low, a.auc_high) == pytest.approx((45, 45 - half, 45 + half))
    # b: seed 2 is interrupted and left out. Finals 5, 7: mean 6, std sqrt(2), df = 1, half
    # 12.706204736174707 * sqrt(2) / sqrt(2) = 12.7062. AUCs: seed 0 flat 5; seed 1
    # (5 * 1000 + (5 + 7) / 2 * 1000) / 2000 = 5.5; mean 5.25, std sqrt(0.125), half
    # 12.706204736174707 * sqrt(0.125) / sqrt(2) = 3.17655.
    assert b.seeds == [0, 1] and b.finals == [5.0, 7.0] and b.aucs == [5.0, 5.5]
    t1 = 12.706204736174707
    assert (b.final_mean, b.final_low, b.final_high) == pytest.approx((6, 6 - t1, 6 + t1))
    half = t1 * math.sqrt(0.125) / math.sqrt(2)
    assert (b.auc_mean, b.auc_low, b.auc_high) == pytest.approx((5.25, 5.25 - half, 5.25 + half))
    assert a.wall_s == 30.0 and b.wall_s == 20.0
    # Files: summary.md holds the table, summary.csv the numbers.
    md = (tmp_path / "synthetic" / "summary.md").read_text()
    assert md == text
    assert "| CartPole-v1 | a | 3 | 3,000 | 80 [-19.4, 179] | 45 [-10.9, 101] |" in md
    assert "- `a`: variant a" in md
    assert "| CartPole-v1 | b | 2 | 3,000 | 6 [-6.71, 18.7] | 5.25 [2.07, 8.43] |" in md
    with open(tmp_path / "synthetic" / "summary.csv") as f:
        table = list(csv.DictReader(f))
    assert [row["variant"] for row in table] == ["a", "b"]
    assert float(table[0]["final_mean"]) == 80.0 and table[0]["n"] == "3"
    assert table[0]["finals"] == "40 80 120"


def test_summarize_without_runs_gives_an_empty_table(tmp_path):
    rows, text = summary.summarize(EXPERIMENT, str(tmp_path), write=False)
    assert rows == []
    assert "| environment | variant |" in text
    assert not (tmp_path / "synthetic").exists()


def test_a_run_before_its_first_episode_end_has_an_empty_curve(tmp_path):
    # A metrics.csv gets its return column with the first finished episode (e.g. Pong, short runs).
    for spec in EXPERIMENT.runs():
        directory = tmp_path / spec.experiment / spec.name
        directory.mkdir(parents=True)
        _write_metrics(str(directory), [(0, None), (1000, None)])
        (directory / "run.json").write_text(json.dumps({"status": "finished", "wall_s": 1.0}))
    runs = summary.load_runs(EXPERIMENT, str(tmp_path))
    assert len(runs) == len(EXPERIMENT.runs())
    assert all(len(run.steps) == len(run.values) == 0 for run in runs)
    assert all(math.isnan(run.final) and math.isnan(run.auc) for run in runs)
    rows, text = summary.summarize(EXPERIMENT, str(tmp_path), write=False)
    assert [row.variant for row in rows] == ["a", "b"]
    assert "| CartPole-v1 | a | 3 | 3,000 |" in text

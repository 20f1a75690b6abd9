"""Summary tables from synthetic metrics.csv files: final return, AUC, mean and 95% interval."""

import csv
import json
import math
import os

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.experiments import summary
from softrl_tf.experiments.specs import EnvBudget, TrainingExperiment, Variant
from softrl_tf.training.logging import MetricsLogger

import numpy as np
import pytest

METRIC = summary.RETURN_METRIC
# Student's t 0.975 quantiles (standard tables): df = 1, 2, 4.
T975 = {1: 12.706204736174707, 2: 4.302652729749464, 4: 2.7764451051977934}


def _write_metrics(root, rows):
    """A metrics.csv as the training loop writes it: ``rows`` are (step, return or None)."""
    with MetricsLogger(root) as logger:
        for step, value in rows:
            scalars = {"train/loss": 1.0}
            if value is not None:
                scalars[METRIC] = value
            logger.write(step, scalars)
    return os.path.join(root, "metrics.csv")


def test_read_curve_skips_rows_without_a_return(tmp_path):
    path = _write_metrics(tmp_path, [(0, None), (1000, 10.0), (2000, 20.0), (3000, 40.0)])
    steps, values = summary.read_curve(path)
    np.testing.assert_array_equal(steps, [1000, 2000, 3000])
    np.testing.assert_array_equal(values, [10, 20, 40])


def test_read_curve_keeps_the_last_of_a_repeated_step_and_drops_a_torn_line(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text(
        f"step,wall_time,{METRIC}\n0,1.0,1.5\n1000,2.0,3.0\n1000,3.0,4.0\n2000,4.0,5"  # torn
    )
    steps, values = summary.read_curve(str(path))
    np.testing.assert_array_equal(steps, [0, 1000])
    np.testing.assert_array_equal(values, [1.5, 4.0])


def test_read_curve_rejects_a_file_without_steps(tmp_path):
    path = tmp_path / "metrics.csv"
    path.write_text("a,b\n1,2\n")
    with pytest.raises(ValueError, match="no 'step' column"):
        summary.read_curve(str(path))


def test_final_and_auc_by_hand():
    steps = np.array([1000.0, 2000.0, 3000.0])
    values = np.array([10.0, 20.0, 40.0])
    # Trapezoids: (10 + 20) / 2 * 1000 + (20 + 40) / 2 * 1000 = 15000 + 30000 = 45000 over a
    # span of 2000 steps: 22.5.
    assert summary.area_under_curve(steps, values) == pytest.approx(22.5, rel=1e-15)
    assert summary.final_return(steps, values) == 40.0
    # Uneven spacing: (0 + 10) / 2 * 100 + (10 + 10) / 2 * 900 = 500 + 9000 = 9500 over 1000.
    assert summary.area_under_curve(np.array([0.0, 100.0, 1000.0]), np.array([0.0, 10, 10])) == (
        pytest.approx(9.5, rel=1e-15)
    )
    assert summary.area_under_curve(np.array([5.0]), np.array([7.0])) == 7.0
    assert math.isnan(summary.area_under_curve(np.array([]), np.array([])))
    assert math.isnan(summary.final_return(np.array([]), np.array([])))


@pytest.mark.parametrize("df", sorted(T975))
def test_t_quantile_matches_the_tables(df):
    assert summary.t_quantile(0.975, df) == pytest.approx(T975[df], rel=1e-10)


def test_mean_interval_by_hand():
    # 40, 50, 60: mean 50, sample std sqrt(((-10)^2 + 0 + 10^2) / 2) = 10, n = 3, df = 2:
    # half-width 4.302652729749464 * 10 / sqrt(3) = 24.841377118...
    mean, low, high = summary.mean_interval([40.0, 50.0, 60.0])
    half = 4.302652729749464 * 10 / math.sqrt(3)
    assert mean == 50.0
    assert low == pytest.approx(50 - half, rel=1e-10)
    assert high == pytest.approx(50 + half, rel=1e-10)
    assert high - low == pytest.approx(49.682754, rel=1e-6)
    # nan is left out; one value has no interval.
    mean, low, high = summary.mean_interval([3.0, float("nan")])
    assert mean == 3.0 and math.isnan(low) and math.isnan(high)
    assert all(math.isnan(v) for v in summary.mean_interval([]))


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

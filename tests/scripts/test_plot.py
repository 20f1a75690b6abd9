"""Tests of scripts/plot.py: aggregation across seeds, grouping by config, the PNG, errors."""

import importlib.util
import json
import os
import subprocess
import sys

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.training.logging import MetricsLogger

import numpy as np
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(REPO, "scripts", "plot.py")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _load_script():
    spec = importlib.util.spec_from_file_location("plot_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


plot = _load_script()


def _write_run(root, agent_config, *, agent="a2c", seed=0, env="CartPole-v1", slope=1.0, steps=11):
    """A run dir as training writes it: metrics.csv (MetricsLogger) and config.json.

    ``episode/return_mean100`` is ``slope * step / 100 + seed``, missing in the first row (no
    episode finished yet), as in a real run.
    """
    with MetricsLogger(root) as logger:
        for i in range(steps):
            step = 1000 * i
            row = {"train/loss": 1.0 / (i + 1)}
            if i > 0:
                row["episode/return_mean100"] = slope * step / 100 + seed
            logger.write(step, row)
    config = {"train": {"agent": agent, "seed": seed, "env": env}, "agent": agent_config}
    with open(os.path.join(root, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f)
    return str(root)


def _args(argv):
    return plot.build_parser().parse_args([str(a) for a in argv])


def _main(argv, capsys):
    try:
        status = plot.main([str(a) for a in argv])
    except SystemExit as exit_:  # argparse's errors
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


def test_aggregate_known_values():
    run_a = (np.array([0.0, 10.0, 20.0]), np.array([0.0, 10.0, 20.0]))
    run_b = (np.array([5.0, 15.0, 25.0]), np.array([1.0, 1.0, 1.0]))
    curve = plot.aggregate("x", [run_a, run_b])
    # Overlap [5, 20]; grid = the runs' x values inside it: 5, 10, 15, 20.
    # Run a interpolated: 5, 10, 15, 20; run b: 1, 1, 1, 1.
    np.testing.assert_allclose(curve.x, [5, 10, 15, 20])
    np.testing.assert_allclose(curve.mean, [3, 5.5, 8, 10.5])
    np.testing.assert_allclose(curve.std, [2, 4.5, 7, 9.5])  # |a - b| / 2 for two runs
    np.testing.assert_allclose(curve.low, [1, 1, 1, 1])
    np.testing.assert_allclose(curve.high, [5, 10, 15, 20])
    assert curve.runs == 2


def test_aggregate_caps_the_grid_and_rejects_disjoint_runs():
    x = np.arange(1000.0)
    curve = plot.aggregate("x", [(x, 2 * x), (x, 4 * x)], max_points=11)
    np.testing.assert_allclose(curve.x, np.linspace(0, 999, 11))
    np.testing.assert_allclose(curve.mean, 3 * curve.x)
    with pytest.raises(plot.PlotError, match="do not overlap"):
        plot.aggregate(
            "x", [(np.array([0.0, 1.0]), np.zeros(2)), (np.array([2.0, 3.0]), np.ones(2))]
        )


def test_curve_reads_metrics_csv_like_the_logger(tmp_path):
    # A repeated step keeps its last row; empty cells and a torn last line are left out.
    (tmp_path / "metrics.csv").write_text(
        "step,wall_time,score\n0,1.0,\n10,1.0,5\n10,2.0,6\n20,3.0,7\n30,4.0,8"
    )
    run = plot.load_run(str(tmp_path))
    assert run.config is None and run.metrics == ["score"]
    x, y = run.curve("step", "score")
    np.testing.assert_array_equal(x, [10, 20])
    np.testing.assert_array_equal(y, [6, 7])


def test_groups_by_agent_and_variant_per_environment(tmp_path):
    runs = tmp_path / "runs"
    for seed in (0, 1):
        _write_run(runs / f"proper-{seed}", {"entropy_mode": "proper", "tau": 0.01}, seed=seed)
    _write_run(runs / "naive-0", {"entropy_mode": "naive", "tau": 0.01})
    _write_run(runs / "dqn-0", {"backup": "logsumexp", "tau": 0.1}, agent="soft_dqn")
    _write_run(runs / "acrobot", {"entropy_mode": "proper", "tau": 0.01}, env="Acrobot-v1")
    # A parent directory stands for every run below it.
    panels = plot.collect(_args([runs, "--out", tmp_path / "f.png"]))
    grouped = {
        panel: {
            label: sorted(os.path.basename(r.root_dir) for r in group) for label, group in g.items()
        }
        for panel, g in panels.items()
    }
    assert grouped == {
        "CartPole-v1": {
            "a2c (proper)": ["proper-0", "proper-1"],
            "a2c (naive)": ["naive-0"],
            "soft_dqn (logsumexp)": ["dqn-0"],
        },
        "Acrobot-v1": {"a2c (proper)": ["acrobot"]},
    }
    panels = plot.collect(_args([runs, "--out", tmp_path / "f.png", "--label-by", "agent.tau"]))
    assert sorted(panels["CartPole-v1"]) == ["0.01", "0.1"]
    panels = plot.collect(_args([runs, "--out", "f.png", "--label-by", "agent, tau"]))
    assert "agent=a2c, tau=0.01" in panels["CartPole-v1"]
    default_args = _args([runs, "--out", "f.png"])
    fig, drawn = plot.draw(plot.collect(default_args), default_args)
    assert drawn == 4
    assert sorted(ax.get_title() for ax in fig.axes if ax.get_visible()) == [
        "Acrobot-v1",
        "CartPole-v1",
    ]


def test_labels_name_root_dirs(tmp_path):
    a = _write_run(tmp_path / "a", {"entropy_mode": "proper"})
    b = _write_run(tmp_path / "b", {"entropy_mode": "naive"}, seed=1)
    c = _write_run(tmp_path / "c", {"entropy_mode": "naive"}, seed=2)
    panels = plot.collect(_args([a, b, c, "--out", "f.png", "--labels", "x", "y", "x"]))
    assert {label: len(runs) for label, runs in panels["CartPole-v1"].items()} == {"x": 2, "y": 1}


def test_writes_png_of_two_seeds(tmp_path, capsys):
    first = _write_run(tmp_path / "s0", {"entropy_mode": "proper"}, seed=0)
    second = _write_run(tmp_path / "s1", {"entropy_mode": "proper"}, seed=1, steps=9)
    out = tmp_path / "figs" / "curve.png"
    status, stdout, err = _main([first, second, "--out", out, "--band", "minmax"], capsys)
    assert status == 0, err
    assert stdout.strip() == f"wrote {out} (1 curve from 2 runs)"
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    import matplotlib.image

    image = matplotlib.image.imread(str(out))
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.01  # not a blank canvas


def test_cli_end_to_end_in_a_subprocess(tmp_path):
    runs = [_write_run(tmp_path / f"s{seed}", {"backup": "max"}, seed=seed) for seed in (0, 1)]
    out = tmp_path / "curve.png"
    result = subprocess.run(
        [sys.executable, SCRIPT, *runs, "--out", str(out), "--metric", "train/loss"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stderr
    assert out.read_bytes().startswith(PNG_MAGIC)


def test_bad_inputs_exit_2_with_one_sentence(tmp_path, capsys):
    run = _write_run(tmp_path / "run", {"entropy_mode": "proper"})
    empty = tmp_path / "empty"
    empty.mkdir()
    out = tmp_path / "f.png"
    cases = [
        ([empty, "--out", out], f"{empty} has no metrics.csv"),
        ([tmp_path / "missing", "--out", out], "is not a directory"),
        (
            [run, "--out", out, "--metric", "episode/return"],
            "has no metric 'episode/return'; available: train/loss, episode/return_mean100.",
        ),
        ([run, "--out", out, "--x", "frames"], "has no column 'frames'; available: step,"),
        ([run, "--out", out, "--labels", "a", "b"], "--labels got 2 labels for 1 root dirs"),
        ([run, "--out", out, "--label-by", "agent.lr"], "has no field 'agent.lr'; available:"),
        ([run, "--out", tmp_path / "f.xyz"], "Cannot write"),
        ([run], "the following arguments are required: --out"),
    ]
    for argv, phrase in cases:
        status, stdout, err = _main(argv, capsys)
        assert status == 2, (argv, err)
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("plot.py: error: "), (argv, err)
        assert phrase in lines[0], (argv, err)
        assert stdout == ""
    assert not out.exists()


def test_runs_without_values_yet_are_left_out_with_a_warning(tmp_path, capsys):
    early = tmp_path / "early"
    early.mkdir()
    (early / "metrics.csv").write_text("step,wall_time,episode/return_mean100\n0,1.0,\n")
    status, _, err = _main([early, "--out", tmp_path / "f.png"], capsys)
    assert status == 2
    warning, error = err.strip().splitlines()
    assert warning.startswith("plot.py: warning: ") and warning.endswith("values yet; left out.")
    assert error == "plot.py: error: No run has any 'episode/return_mean100' values to plot yet."
    later = _write_run(tmp_path / "later", {"entropy_mode": "proper"})
    status, out, err = _main([early, later, "--out", tmp_path / "f.png"], capsys)
    assert status == 0, err
    assert "(1 curve from 2 runs)" in out

"""softrl-plot (softrl_tf.results.plot): grouping by config, the PNG, its band, errors."""

import json
import os

from softrl_tf.results import plot
from softrl_tf.results.stats import BAND

import numpy as np
import pytest

pytest.importorskip("matplotlib")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _write_run(root, agent_config, *, agent="a2c", seed=0, env="CartPole-v1", slope=1.0, steps=11):
    """A run dir as training writes it: metrics.csv and config.json.

    ``episode/return_mean100`` is ``slope * step / 100 + seed``, missing in the first row (no
    episode finished yet), as in a real run.
    """
    os.makedirs(root, exist_ok=True)
    lines = ["step,wall_time,train/loss,episode/return_mean100"]
    for i in range(steps):
        step = 1000 * i
        value = "" if i == 0 else f"{slope * step / 100 + seed}"
        lines.append(f"{step},{i}.0,{1.0 / (i + 1)},{value}")
    with open(os.path.join(root, "metrics.csv"), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")
    config = {"train": {"agent": agent, "seed": seed, "env": env}, "agent": agent_config}
    with open(os.path.join(root, "config.json"), "w", encoding="utf-8") as f:
        json.dump(config, f)
    return str(root)


def _args(argv):
    return plot.build_parser().parse_args([str(a) for a in argv])


def _main(argv, capsys):
    try:
        status = plot.main(argv)
    except SystemExit as exit_:  # argparse's errors
        status = exit_.code
    out, err = capsys.readouterr()
    return status, out, err


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


def test_labels_name_root_dirs(tmp_path):
    a = _write_run(tmp_path / "a", {"entropy_mode": "proper"})
    b = _write_run(tmp_path / "b", {"entropy_mode": "naive"}, seed=1)
    c = _write_run(tmp_path / "c", {"entropy_mode": "naive"}, seed=2)
    panels = plot.collect(_args([a, b, c, "--out", "f.png", "--labels", "x", "y", "x"]))
    assert {label: len(runs) for label, runs in panels["CartPole-v1"].items()} == {"x": 2, "y": 1}


def test_curves_of_two_seeds_with_the_band(tmp_path):
    first = _write_run(tmp_path / "s0", {"entropy_mode": "proper"}, seed=0)
    second = _write_run(tmp_path / "s1", {"entropy_mode": "proper"}, seed=1, steps=9)
    args = _args([first, second, "--out", tmp_path / "f.png"])
    curves = plot.curves_of(plot.collect(args), args)
    (x0, y0), (x1, y1) = curves["CartPole-v1"]["a2c (proper)"]
    np.testing.assert_array_equal(x0, 1000.0 * np.arange(1, 11))
    np.testing.assert_allclose(y1, 10.0 * np.arange(1, 9) + 1)
    from softrl_tf.results import figures

    fig, drawn = figures.learning_curves(curves)
    try:
        (ax,) = [ax for ax in fig.axes if ax.get_visible()]
        assert drawn == 1 and ax.get_title() == "CartPole-v1"
        assert ax.get_legend().get_title().get_text() == BAND
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a2c (proper) (n=2)"]
        # Common steps 1000..8000; mean of seed 0 and seed 1 = step / 100 + 0.5.
        np.testing.assert_allclose(ax.lines[0].get_xdata(), 1000.0 * np.arange(1, 9))
        np.testing.assert_allclose(ax.lines[0].get_ydata(), 10.0 * np.arange(1, 9) + 0.5)
        assert ax.get_xlabel() == "agent steps"
    finally:
        figures.pyplot().close(fig)


def test_writes_a_png(tmp_path, capsys):
    first = _write_run(tmp_path / "s0", {"entropy_mode": "proper"}, seed=0)
    second = _write_run(tmp_path / "s1", {"entropy_mode": "proper"}, seed=1, steps=9)
    out = tmp_path / "figs" / "curve.png"
    status, stdout, err = _main([first, second, "--out", out, "--title", "Two seeds"], capsys)
    assert status == 0, err
    assert stdout.strip() == f"wrote {out} (1 curve from 2 runs)"
    data = out.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 10_000
    import matplotlib.image

    image = matplotlib.image.imread(str(out))
    assert image.shape[0] > 200 and image.shape[1] > 200
    assert image[..., :3].std() > 0.01  # not a blank canvas


def test_bad_inputs_exit_2_with_one_sentence(tmp_path, capsys):
    run = _write_run(tmp_path / "run", {"entropy_mode": "proper"})
    late = _write_run(tmp_path / "late", {"entropy_mode": "proper"})
    with open(os.path.join(late, "metrics.csv"), "w") as f:
        f.write("step,wall_time,episode/return_mean100\n50000,1.0,3\n60000,2.0,4\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "metrics.csv").write_text("a,b\n1,2\n")
    out = tmp_path / "f.png"
    cases = [
        ([empty, "--out", out], f"{empty} has no metrics.csv"),
        ([tmp_path / "missing", "--out", out], "is not a directory"),
        ([bad, "--out", out], "is not a metrics table"),
        (
            [run, "--out", out, "--metric", "episode/return"],
            "has no metric 'episode/return'; available: train/loss, episode/return_mean100.",
        ),
        ([run, "--out", out, "--x", "frames"], "has no column 'frames'; available: step,"),
        ([run, "--out", out, "--labels", "a", "b"], "--labels got 2 labels for 1 root dirs"),
        ([run, "--out", out, "--label-by", "agent.lr"], "has no field 'agent.lr'; available:"),
        ([run, late, "--out", out], "do not overlap, so they cannot be averaged: give them"),
        ([run, "--out", out, "--max-points", "1"], "--max-points must be >= 2"),
        ([run, "--out", tmp_path / "f.xyz"], "Cannot write"),
        ([run], "the following arguments are required: --out"),
    ]
    for argv, phrase in cases:
        status, stdout, err = _main(argv, capsys)
        assert status == 2, (argv, err)
        assert "Traceback" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("softrl-plot: error: "), (argv, err)
        assert phrase in lines[0], (argv, err)
        assert stdout == ""
    assert not out.exists()


def test_runs_without_values_yet_are_left_out_with_a_warning(tmp_path, capsys):
    early = tmp_path / "early"
    early.mkdir()
    (early / "metrics.csv").write_text("step,wall_time,episode/return_mean100\n0,1.0,\n")
    status, _, err = _main([early, "--out", tmp_path / "f.png"], capsys)
    assert status == 2
    # Nothing to plot at all: the error alone, no warning line before it.
    assert err.strip().splitlines() == [
        "softrl-plot: error: No run has any 'episode/return_mean100' values to plot yet."
    ]
    later = _write_run(tmp_path / "later", {"entropy_mode": "proper"})
    status, out, err = _main([early, later, "--out", tmp_path / "f.png"], capsys)
    assert status == 0, err
    assert "(1 curve from 2 runs)" in out
    (warning,) = err.strip().splitlines()
    assert warning.startswith("softrl-plot: warning: ")
    assert warning.endswith("values yet; left out.")


def test_damaged_files_and_unwritable_outputs_exit_2_with_one_line(tmp_path, capsys):
    run = _write_run(tmp_path / "run", {"entropy_mode": "proper"})
    binary = tmp_path / "binary"
    binary.mkdir()
    (binary / "metrics.csv").write_bytes(bytes(range(256)) * 4)
    nul = tmp_path / "nul"
    nul.mkdir()
    (nul / "metrics.csv").write_bytes(b"step,wall_time\n1,\x00\x00\n")
    header_only = tmp_path / "header_only"
    header_only.mkdir()
    (header_only / "metrics.csv").write_text("step,wall_time,episode/return_mean100\n")
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    cases = [
        ([binary, "--out", tmp_path / "f.png"], "is not a metrics table: it is not UTF-8 text"),
        ([nul, "--out", tmp_path / "f.png"], "is not a metrics table: it holds NUL bytes"),
        ([header_only, "--out", tmp_path / "f.png"], "No run has any 'episode/return_mean100'"),
        ([run, "--out", blocker / "sub" / "f.png"], "choose an --out in a writable directory"),
    ]
    for argv, phrase in cases:
        status, stdout, err = _main(argv, capsys)
        assert status == 2, (argv, err)
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("softrl-plot: error: "), (argv, err)
        assert phrase in lines[0], (argv, err)
        assert stdout == ""

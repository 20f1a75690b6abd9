"""The experiments' command line (softrl_tf.experiments.cli, scripts/experiment.py): list, run (a
numeric experiment, quick), summary, report, errors, provenance."""

import json
import os
import shutil

from softrl_tf.experiments import cli

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_list_names_every_experiment_and_run(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    for name in ("equivalence", "entropy_returns", "soft_dqn", "softq_vs_a2c", "npg"):
        assert out.count(f"{name}: ") == 1
    assert "  naive-MinAtar-Breakout-v1-s2: a2c, 250,000 steps" in out
    assert "  soft-lse-5-CartPole-v1-s0: soft_dqn, 50,000 steps" in out


def test_run_and_summary_of_a_numeric_experiment(tmp_path, capsys):
    results = str(tmp_path)
    assert cli.main(["run", "npg", "--quick", "--results-dir", results]) == 0
    out = capsys.readouterr().out
    assert "| seed | policy params |" in out and out.count("\n| ") >= 3  # header and 2 seeds
    with open(os.path.join(results, "npg", "provenance.json")) as f:
        provenance = json.load(f)
    assert provenance[-1]["command"] == (
        f"scripts/experiment.py run npg --quick --results-dir {results}"
    )
    assert provenance[-1]["quick"] is True and provenance[-1]["outcome"] == {"seeds": [0, 1]}
    assert cli.main(["summary", "npg", "--results-dir", results]) == 0
    assert "| 1 | 51 | 96 |" in capsys.readouterr().out


def test_unknown_experiment_is_exit_status_2(capsys):
    assert cli.main(["run", "nope"]) == 2
    assert "unknown experiment 'nope'" in capsys.readouterr().err


def test_report_composes_the_readme_from_summaries_provenance_and_findings(tmp_path, capsys):
    results = str(tmp_path)
    assert cli.main(["run", "npg", "--quick", "--results-dir", results]) == 0
    (tmp_path / "npg" / "findings.md").write_text("The identity holds to rounding.\n")
    capsys.readouterr()
    assert cli.main(["report", "--results-dir", results]) == 0
    readme = (tmp_path / "README.md").read_text()
    assert readme.startswith("# Results")
    assert "## 5. Damped soft-Q regression" in readme  # numbered as in the registry
    assert "| seed | policy params |" in readme
    assert "The identity holds to rounding." in readme
    assert "## 1." not in readme  # experiments without results are left out
    # Quick invocations are not listed as the producing commands.
    assert "scripts/experiment.py run npg --quick" not in readme


def test_summary_headings_go_one_level_down_in_the_readme():
    from softrl_tf.experiments import report

    assert report._strip_title("# Title\n\n## Part\ntext\n### Sub\n") == "### Part\ntext\n### Sub"


def test_report_redraws_summaries_and_figures_from_the_committed_runs(tmp_path, capsys):
    # Copies of the committed Pong runs: report reads their metrics.csv and trains nothing.
    source = os.path.join(REPO, "results", "atari_pong")
    runs = sorted(d for d in os.listdir(source) if os.path.isdir(os.path.join(source, d)))
    assert len(runs) == 3
    for name in runs:
        shutil.copytree(os.path.join(source, name), tmp_path / "atari_pong" / name)
    assert cli.main(["report", "--results-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    directory = tmp_path / "atari_pong"
    assert f"wrote {directory / 'curves.png'}" in out
    assert (directory / "curves.png").read_bytes().startswith(b"\x89PNG")
    # The same table as the committed one: same reader, same statistics.
    with open(os.path.join(source, "summary.md"), encoding="utf-8") as f:
        committed = [line for line in f if line.startswith("| PongNoFrameskip-v4 | proper | 3 |")]
    assert len(committed) == 1 and committed[0] in (directory / "summary.md").read_text()
    written = {"curves.png", "summary.csv", "summary.md"}
    assert sorted(os.listdir(directory)) == sorted([*runs, *written])
    assert "## 6. The paper's Atari A2C settings" in (tmp_path / "README.md").read_text()

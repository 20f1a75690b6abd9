"""benchmarks/learning.py: the quick benchmark end to end, softrl_tf's runs trained for real and the
peers' stood in for by a script that writes a known curve (Stable-Baselines3 lives in its own
virtualenv, never in the test environment)."""

import csv
import importlib.util
import os
import stat
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SPEC = importlib.util.spec_from_file_location(
    "learning", os.path.join(REPO, "benchmarks", "learning.py")
)
learning = importlib.util.module_from_spec(SPEC)
sys.modules["learning"] = learning  # its dataclass looks its module up
SPEC.loader.exec_module(learning)

# The stand-in peer: its last return is 100 + seed (sb3_a2c) or 200 + seed (sb3_dqn).
FAKE_PEER = """#!{python}
import json, os, sys
args = dict(a[2:].split("=", 1) for a in sys.argv[2:])
out, steps, seed = args["out"], int(args["steps"]), int(args["seed"])
base = 100 if args["algo"] == "a2c" else 200
os.makedirs(out, exist_ok=True)
with open(os.path.join(out, "metrics.csv"), "w") as f:
    f.write("step,wall_s,episode/return_mean100\\n")
    f.write(f"{{steps // 2}},1.0,{{base / 2}}\\n{{steps}},2.0,{{base + seed}}\\n")
json.dump({{"status": "finished"}}, open(os.path.join(out, "run.json"), "w"))
"""


@pytest.fixture(scope="module")
def quick_benchmark(tmp_path_factory):
    root = tmp_path_factory.mktemp("benchmark")
    peer = root / "peer-python"
    peer.write_text(FAKE_PEER.format(python=sys.executable))
    peer.chmod(peer.stat().st_mode | stat.S_IXUSR)
    results = str(root / "results")
    argv = ["run", "--quick", "--workers=0", f"--results-dir={results}", f"--peer-python={peer}"]
    assert learning.main(argv) == 0
    return results


def _rows(results):
    with open(os.path.join(results, "benchmark", "summary.csv"), encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_summary_has_every_agent_with_its_budget_and_seeds(quick_benchmark):
    rows = _rows(quick_benchmark)
    assert list(rows[0]) == list(learning.SUMMARY_COLUMNS)
    assert [row["agent"] for row in rows] == list(learning.AGENTS)
    assert {row["env"] for row in rows} == {"CartPole-v1"}
    assert all(row["seeds"] == "0 1" for row in rows)
    steps = {row["agent"]: int(row["steps"]) for row in rows}
    # Each peer at the budget of the half it is compared with.
    assert steps["a2c"] == steps["softq"] == steps["sb3_a2c"] == 2_000
    assert steps["soft_dqn"] == steps["dqn"] == steps["sb3_dqn"] == 1_000
    for row in rows:
        assert float(row["ci_low"]) <= float(row["mean"]) <= float(row["ci_high"])


def test_peer_values_are_read_from_their_runs(quick_benchmark):
    rows = {row["agent"]: row for row in _rows(quick_benchmark)}
    assert float(rows["sb3_a2c"]["mean"]) == pytest.approx(100.5)  # 100 and 101
    assert float(rows["sb3_dqn"]["mean"]) == pytest.approx(200.5)
    # The 95% t interval of two values a unit apart: 0.5 +- 12.706 * 0.5.
    assert float(rows["sb3_a2c"]["ci_high"]) == pytest.approx(100.5 + 12.706 * 0.5, rel=1e-4)


def test_table_and_figure_are_written(quick_benchmark):
    out = os.path.join(quick_benchmark, "benchmark")
    with open(os.path.join(out, "table.md"), encoding="utf-8") as f:
        lines = f.read().splitlines()
    assert lines[0] == "| environment | " + " | ".join(learning.AGENTS) + " |"
    assert lines[2].startswith("| CartPole-v1 (2,000 steps) | ")
    assert "100 [" in lines[2]  # sb3_a2c's mean, to three significant digits
    assert os.path.getsize(os.path.join(out, "curves-CartPole-v1.png")) > 10_000


def test_a_second_run_trains_nothing_and_rewrites_the_same_summary(quick_benchmark, capsys):
    before = _rows(quick_benchmark)
    argv = ["run", "--quick", "--workers=0", f"--results-dir={quick_benchmark}"]
    assert learning.main(argv) == 0
    printed = capsys.readouterr().out
    assert "0 to train" in printed and "benchmark_peers" not in printed
    assert _rows(quick_benchmark) == before


def test_a_missing_peer_python_is_one_line_and_exit_2(tmp_path, capsys):
    argv = ["run", "--quick", f"--results-dir={tmp_path}", "--peer-python=/no/such/python"]
    assert learning.main(argv) == 2
    assert capsys.readouterr().out.count("\n") == 1


def test_only_restricts_the_peers_too(tmp_path):
    peer = tmp_path / "peer-python"
    peer.write_text(FAKE_PEER.format(python=sys.executable))
    peer.chmod(peer.stat().st_mode | stat.S_IXUSR)
    results = str(tmp_path / "results")
    assert learning.run_peers(str(peer), results, 1, quick=True, only=["sb3_dqn"]) == 0
    assert sorted(os.listdir(os.path.join(results, learning.PEERS))) == [
        "sb3_dqn-CartPole-v1-s0",
        "sb3_dqn-CartPole-v1-s1",
    ]

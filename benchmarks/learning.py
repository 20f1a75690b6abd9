"""The learning benchmark: a2c, softq, soft_dqn and dqn against Stable-Baselines3 A2C and DQN at
equal environment steps, on classic control and the five MinAtar games, three seeds.

    .venv/bin/python benchmarks/learning.py run --workers 2 --peer-python /tmp/sb3venv/bin/python
    .venv/bin/python benchmarks/learning.py run --only CartPole-v1 Acrobot-v1 ...  # a part
    .venv/bin/python benchmarks/learning.py summary           # tables and figures, no training

``run`` trains what is not finished, resumably: softrl_tf's runs are the experiments
``benchmark_actor_critic`` and ``benchmark_replay`` (:mod:`softrl_tf.experiments.registry`: the
tuned presets, the budgets, the seeds), run by the experiment runner (parallel workers,
checkpoints, an interrupted run resumes); the peers' runs are ``benchmarks/sb3_curve.py`` in the
peer's own virtualenv (``--peer-python``; none: the peers are left out), one process per run, at
the budgets of the half they are compared with (SB3 A2C with a2c/softq, SB3 DQN with
soft_dqn/dqn); an unfinished peer run starts again. ``summary`` (also the end of ``run``) writes,
under ``<results-dir>/benchmark/``:

* ``summary.csv``: ``env, agent, steps, seeds, mean, ci_low, ci_high``: the last-100
  training-episode mean return at the end of each run
  (:func:`softrl_tf.results.stats.final_return`), its mean over seeds and 95% t interval
  (:func:`softrl_tf.results.stats.mean_interval`);
* ``table.md``: the same as a Markdown table, one row per environment, for the README;
* ``curves-<env>.png``: every agent's learning curve on that environment (mean and band over seeds).

Hand-written here (the rest is the experiment runner's): launching the peer processes and
reading their runs beside softrl_tf's. ``--quick`` runs the tiny version (CartPole only, small
budgets, two seeds) that the tests use.
"""

from __future__ import annotations

import argparse
import csv
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass

from softrl_tf.experiments import registry
from softrl_tf.experiments.runner import RUN_JSON
from softrl_tf.experiments.specs import env_slug
from softrl_tf.experiments.summary import load_runs
from softrl_tf.results import figures
from softrl_tf.results.metrics import METRICS_CSV, RETURN_METRIC, read_metrics
from softrl_tf.results.stats import final_return, mean_interval

HALVES = {
    registry.BENCHMARK_ACTOR_CRITIC.name: "a2c",
    registry.BENCHMARK_REPLAY.name: "dqn",
}
"""softrl_tf's half of the benchmark -> the SB3 algorithm its agents are compared with."""
OUT = "benchmark"
PEERS = "benchmark_peers"
SUMMARY_COLUMNS = ("env", "agent", "steps", "seeds", "mean", "ci_low", "ci_high")
AGENTS = ("a2c", "softq", "sb3_a2c", "soft_dqn", "dqn", "sb3_dqn")
PEER_SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sb3_curve.py")


@dataclass(frozen=True)
class PeerRun:
    """One Stable-Baselines3 run: ``algo`` (``a2c`` or ``dqn``) on ``env`` for ``steps``."""

    algo: str
    env: str
    seed: int
    steps: int

    @property
    def agent(self) -> str:
        return f"sb3_{self.algo}"

    def directory(self, results_dir: str) -> str:
        return os.path.join(results_dir, PEERS, f"{self.agent}-{env_slug(self.env)}-s{self.seed}")

    def finished(self, results_dir: str) -> bool:
        return os.path.isfile(os.path.join(self.directory(results_dir), RUN_JSON))


def peer_runs(quick: bool = False) -> list[PeerRun]:
    """The peers' runs: the budgets and seeds of the softrl_tf half each is compared with."""
    runs = []
    for name, algo in HALVES.items():
        seen = set()
        for spec in registry.get_experiment(name).runs(quick=quick):
            key = (spec.env, spec.seed)
            if key not in seen:
                seen.add(key)
                runs.append(PeerRun(algo, spec.env, spec.seed, spec.total_steps))
    return runs


def run_peers(peer_python: str, results_dir: str, workers: int, quick: bool, only=None) -> int:
    """Runs the unfinished peer runs (those whose directory name contains one of ``only``, when
    given), ``workers`` at a time; returns how many failed."""
    pending = [
        run
        for run in peer_runs(quick)
        if not run.finished(results_dir)
        and (not only or any(p in os.path.basename(run.directory(results_dir)) for p in only))
    ]
    print(f"{PEERS}: {len(pending)} runs to train", flush=True)
    threads = str(max(1, (os.cpu_count() or 1) // max(1, workers)))
    env = dict(os.environ, OMP_NUM_THREADS=threads, MKL_NUM_THREADS=threads)
    running: list[tuple[PeerRun, subprocess.Popen, float]] = []
    failed = 0
    while pending or running:
        while pending and len(running) < max(1, workers):
            run = pending.pop(0)
            command = [
                peer_python,
                PEER_SCRIPT,
                f"--algo={run.algo}",
                f"--env={run.env}",
                f"--steps={run.steps}",
                f"--seed={run.seed}",
                f"--out={run.directory(results_dir)}",
            ]
            process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
            running.append((run, process, time.monotonic()))
        time.sleep(0.5)
        for item in list(running):
            run, process, started = item
            if process.poll() is None:
                continue
            running.remove(item)
            status = "finished" if process.returncode == 0 else f"failed ({process.returncode})"
            failed += process.returncode != 0
            name = os.path.basename(run.directory(results_dir))
            print(f"{name} {status} in {time.monotonic() - started:.1f} s", flush=True)
    return failed


def _peer_curves(results_dir: str, quick: bool):
    """``(agent, env, seed, steps, (x, y))`` of every finished peer run."""
    found = []
    for run in peer_runs(quick):
        path = os.path.join(run.directory(results_dir), METRICS_CSV)
        if run.finished(results_dir) and os.path.isfile(path):
            x, y = read_metrics(path).curve(RETURN_METRIC)
            found.append((run.agent, run.env, run.seed, run.steps, (x, y)))
    return found


def collect(results_dir: str, quick: bool = False) -> dict:
    """``{env: {agent: [(seed, steps, (x, y)), ...]}}`` over softrl_tf's finished runs and the
    peers', environments and agents in the benchmark's order."""
    table: dict = {}
    for name in HALVES:
        for run in load_runs(registry.get_experiment(name), results_dir, quick=quick):
            if run.status == "finished":
                entry = (run.seed, run.total_steps, (run.steps, run.values))
                table.setdefault(run.env, {}).setdefault(run.variant, []).append(entry)
    for agent, env, seed, steps, curve in _peer_curves(results_dir, quick):
        table.setdefault(env, {}).setdefault(agent, []).append((seed, steps, curve))
    return {
        env: {a: table[env][a] for a in AGENTS if a in table[env]}
        for env in dict.fromkeys(
            spec.env for name in HALVES for spec in registry.get_experiment(name).runs(quick)
        )
        if env in table
    }


def summary_rows(table: dict) -> list[dict]:
    """One row of :data:`SUMMARY_COLUMNS` per (environment, agent)."""
    rows = []
    for env, agents in table.items():
        for agent, runs in agents.items():
            finals = [final_return(*curve) for _, _, curve in runs]
            mean, low, high = mean_interval(finals)
            rows.append(
                {
                    "env": env,
                    "agent": agent,
                    "steps": max(steps for _, steps, _ in runs),
                    "seeds": " ".join(str(seed) for seed, _, _ in sorted(runs)),
                    "mean": mean,
                    "ci_low": low,
                    "ci_high": high,
                }
            )
    return rows


def markdown(rows: list[dict]) -> str:
    """One line per environment: mean [95% interval] of each agent (the mean alone for one seed)."""
    cells: dict = {}
    for row in rows:
        cells.setdefault(row["env"], {})[row["agent"]] = row
    agents = [a for a in AGENTS if any(a in by_agent for by_agent in cells.values())]
    lines = [
        "| environment | " + " | ".join(agents) + " |",
        "|---|" + "---|" * len(agents),
    ]
    for env, by_agent in cells.items():
        parts = []
        for agent in agents:
            row = by_agent.get(agent)
            if row is None:
                parts.append("")
            elif row["ci_low"] == row["ci_low"]:  # not nan: two seeds or more
                parts.append(f"{row['mean']:.3g} [{row['ci_low']:.3g}, {row['ci_high']:.3g}]")
            else:
                parts.append(f"{row['mean']:.3g}")
        steps = max(row["steps"] for row in by_agent.values())
        lines.append(f"| {env} ({steps:,} steps) | " + " | ".join(parts) + " |")
    return "\n".join(lines) + "\n"


def write_summary(results_dir: str, quick: bool = False) -> list[str]:
    """Writes ``summary.csv``, ``table.md`` and a figure per environment; returns the paths."""
    out_dir = os.path.join(results_dir, OUT)
    os.makedirs(out_dir, exist_ok=True)
    table = collect(results_dir, quick)
    rows = summary_rows(table)
    written = [os.path.join(out_dir, "summary.csv"), os.path.join(out_dir, "table.md")]
    with open(written[0], "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=SUMMARY_COLUMNS)
        writer.writeheader()
        writer.writerows(
            {k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in row.items()} for row in rows
        )
    with open(written[1], "w", encoding="utf-8") as f:
        f.write(markdown(rows))
    for env, agents in table.items():
        panels = {env: {agent: [curve for _, _, curve in runs] for agent, runs in agents.items()}}
        fig, _ = figures.learning_curves(
            panels, title="softrl_tf and Stable-Baselines3 at equal environment steps"
        )
        written.append(figures.save(fig, os.path.join(out_dir, f"curves-{env_slug(env)}.png")))
    return written


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("run", "summary"):
        sub = commands.add_parser(name)
        sub.add_argument("--results-dir", default="results", help="Default: %(default)s.")
        sub.add_argument("--quick", action="store_true", help="The tiny version (tests).")
    run = commands.choices["run"]
    run.add_argument("--workers", type=int, default=2, help="Parallel runs. Default: 2.")
    run.add_argument(
        "--only",
        nargs="+",
        default=None,
        help="Run-name substrings (CartPole-v1, MinAtar-Breakout): train only those runs.",
    )
    run.add_argument(
        "--peer-python",
        default="",
        help="Python of a virtualenv with stable-baselines3 (and minatar); none: no peers.",
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run" and args.peer_python and not os.path.isfile(args.peer_python):
        print(f"learning.py: error: --peer-python={args.peer_python} does not exist.")
        return 2
    failed = 0
    if args.command == "run":
        command = shlex.join([os.path.basename(sys.executable), *sys.argv])
        for name in HALVES:
            registry.run(
                name,
                args.results_dir,
                workers=args.workers,
                quick=args.quick,
                only=args.only,
                command=command,
            )
        if args.peer_python:
            failed = run_peers(
                args.peer_python, args.results_dir, args.workers, args.quick, args.only
            )
    for path in write_summary(args.results_dir, args.quick):
        print(path)
    with open(os.path.join(args.results_dir, OUT, "table.md"), encoding="utf-8") as f:
        print(f.read())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

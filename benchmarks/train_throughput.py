"""Training throughput: environment steps per second of a full training run (collect + train).

Each measurement is a fresh process that trains for ``--steps`` environment steps; the rate is
read from ``metrics.csv`` between the first logged row (after tracing and warm-up) and the last.
With ``--peer-python`` (a virtualenv that has stable-baselines3), Stable-Baselines3 A2C with its
default hyperparameters runs alternately with ours in the same invocation (A, B, A, B...), and the
ratio of medians is printed. With ``--baseline-repo`` (another checkout of softrl_tf, e.g. a git
worktree of an earlier commit), that checkout's ``scripts/train.py`` runs alternately with this
one's, and the ratio of medians to it is printed: how one version's training loop compares with
another's, side by side in one invocation.

    .venv/bin/python benchmarks/train_throughput.py --agents a2c softq --env CartPole-v1 \
        --num-envs 8 --steps 40000 --repeats 3 --peer-python /tmp/sb3/bin/python

Prints figures; never fails a test run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

from softrl_tf.results.metrics import read_metrics

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)


def measure_ours(agent, env, num_envs, steps, log_every, extra, repo=REPO):
    """Steps/s of one ``scripts/train.py`` run of the checkout ``repo``, from its metrics.csv
    (first row excluded)."""
    with tempfile.TemporaryDirectory() as root:
        cmd = [
            sys.executable,
            os.path.join(repo, "scripts", "train.py"),
            f"--agent={agent}",
            f"--env={env}",
            f"--num-envs={num_envs}",
            f"--total-steps={steps}",
            f"--log-every-steps={log_every}",
            f"--checkpoint-every-steps={10 * steps}",
            f"--root-dir={root}",
            "--no-export",
            *extra,
        ]
        environment = dict(os.environ, PYTHONPATH=repo)
        subprocess.run(cmd, check=True, capture_output=True, text=True, env=environment)
        table = read_metrics(root)
    steps, wall_time = table.steps, table.values["wall_time"]
    return float((steps[-1] - steps[0]) / (wall_time[-1] - wall_time[0]))


def measure_peer(python, env, num_envs, steps, warmup, vec_env="dummy", threads=0):
    cmd = [
        python,
        os.path.join(HERE, "sb3_a2c_peer.py"),
        f"--env={env}",
        f"--num-envs={num_envs}",
        f"--steps={steps}",
        f"--warmup={warmup}",
        f"--vec-env={vec_env}",
        f"--threads={threads}",
    ]
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])["env_steps_per_s"]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=["a2c", "softq", "soft_dqn"])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--peer-python", default=None, help="python of a venv with SB3")
    parser.add_argument("--peer-vec-env", choices=("dummy", "subproc"), default="dummy")
    parser.add_argument("--peer-threads", type=int, default=0, help="torch threads; 0: default")
    parser.add_argument("--baseline-repo", default=None, help="another softrl_tf checkout")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="train.py flags")
    args = parser.parse_args()
    log_every = max(args.steps // 10, args.num_envs * 5)
    figures = {agent: [] for agent in args.agents}
    if args.baseline_repo:
        figures.update({f"{agent}@base": [] for agent in args.agents})
    if args.peer_python:
        figures["sb3_a2c"] = []
    for repeat in range(args.repeats):
        for agent in args.agents:
            runs = [(agent, REPO)]
            if args.baseline_repo:
                runs.append((f"{agent}@base", args.baseline_repo))
            for name, repo in runs:
                rate = measure_ours(
                    agent, args.env, args.num_envs, args.steps, log_every, args.extra, repo
                )
                figures[name].append(rate)
                print(f"repeat {repeat}: {name:>14s} {rate:9.0f} env steps/s", flush=True)
        if args.peer_python:
            rate = measure_peer(
                args.peer_python,
                args.env,
                args.num_envs,
                args.steps,
                log_every,
                args.peer_vec_env,
                args.peer_threads,
            )
            figures["sb3_a2c"].append(rate)
            print(f"repeat {repeat}: {'sb3_a2c':>9s} {rate:9.0f} env steps/s", flush=True)
    print(f"\n{args.env} x{args.num_envs}, {args.steps} steps per run, {args.repeats} repeats")
    print(f"{'runner':>14s} {'median':>9s} {'min':>9s} {'max':>9s}  to sb3_a2c  to base")
    peer = statistics.median(figures["sb3_a2c"]) if args.peer_python else None
    for name, rates in figures.items():
        med = statistics.median(rates)
        ratio = f"{med / peer:.2f}x" if peer else "-"
        base = figures.get(f"{name}@base")
        to_base = f"{med / statistics.median(base):.2f}x" if base else "-"
        print(f"{name:>14s} {med:9.0f} {min(rates):9.0f} {max(rates):9.0f}  {ratio:>9s}  {to_base}")


if __name__ == "__main__":
    main()

"""Sample efficiency: environment steps until the 100-episode mean return reaches a threshold.

For each agent and seed, trains with ``softrl_tf.training.loop.train`` (the agent's registered
defaults, i.e. the ``cartpole`` preset, unless flags are given) and reports the environment step at
which the mean raw return of the last 100 finished episodes first reached ``--threshold``, then
the median over seeds (CartPole-v1: 475; the target is <= 100k for a2c and softq).

    .venv/bin/python benchmarks/sample_efficiency.py --agents a2c softq --seeds 0 1 2 \
        --env CartPole-v1 --threshold 475 --max-steps 100000

Each run is a fresh process (so runs do not share TensorFlow state) and stops at ``--max-steps``;
a run that never reaches the threshold counts as "> max-steps". Prints figures; never fails a
test run.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile

RUN_ONE = """
import json, sys
import softrl_tf
from softrl_tf.agents import AGENTS
from softrl_tf.config import TrainConfig
from softrl_tf.training.loop import train
from softrl_tf.presets import resolve
agent, env, seed, max_steps, threshold, root, overrides = sys.argv[1:8]
config = TrainConfig(agent=agent, env=env, seed=int(seed), total_steps=int(max_steps),
                     root_dir=root, log_every_steps=10_000, checkpoint_every_steps=10**9,
                     export=False)
agent_config = resolve(agent, None, None, json.loads(overrides)).agent
result = train(config, agent_config, progress=False, handle_signals=False)
print(json.dumps({"steps": result.steps_to_threshold(float(threshold)),
                  "final_mean100": result.mean_return()}))
"""


def run(agent, env, seed, max_steps, threshold, overrides=None):
    with tempfile.TemporaryDirectory() as root:
        args = [agent, env, str(seed), str(max_steps), str(threshold), root]
        args.append(json.dumps(overrides or {}))
        out = subprocess.run(
            [sys.executable, "-c", RUN_ONE, *args], check=True, capture_output=True, text=True
        ).stdout
    return json.loads(out.strip().splitlines()[-1])


def _value(text: str):
    """A ``--set`` value: JSON where it parses (numbers, booleans, lists), the text otherwise."""
    try:
        return json.loads(text)
    except ValueError:
        return text


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", nargs="+", default=["a2c", "softq", "soft_dqn"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--threshold", type=float, default=475.0)
    parser.add_argument(
        "--max-steps",
        type=int,
        default=100_000,
        help="run length; the linear learning-rate decay spans it, so it is part of the setting",
    )
    parser.add_argument(
        "--set",
        nargs="+",
        default=[],
        metavar="FIELD=VALUE",
        help="agent settings over the preset's, e.g. precision=mixed_bfloat16 tau=0.05",
    )
    args = parser.parse_args()
    overrides = {name: _value(text) for name, text in (item.split("=", 1) for item in args.set)}
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    summary = {}
    for agent in args.agents:
        steps = []
        for seed in args.seeds:
            got = run(agent, args.env, seed, args.max_steps, args.threshold, overrides)
            steps.append(got["steps"])
            shown = got["steps"] if got["steps"] is not None else f"> {args.max_steps}"
            print(
                f"{agent:>9s} seed {seed}: {shown} steps to {args.threshold:g} "
                f"(final 100-episode mean {got['final_mean100']:.1f})",
                flush=True,
            )
        reached = sorted(s if s is not None else float("inf") for s in steps)
        summary[agent] = statistics.median(reached)
    print(f"\n{args.env}: median steps to a 100-episode mean of {args.threshold:g}")
    for agent, med in summary.items():
        print(f"{agent:>9s} {med if med != float('inf') else '> ' + str(args.max_steps)}")


if __name__ == "__main__":
    main()

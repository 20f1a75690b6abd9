"""The serial bound of on-policy training, and how close a training iteration comes to it.

One on-policy iteration (a2c, softq) is ``T`` batch steps of ``B`` environments, ``T`` forward
passes of the policy on ``B`` observations, and one update on the ``B x (T + 1)`` segment. Each
part is timed alone here, in one process, with the run's own agent and environment (built by the
library from ``--agent``/``--preset``/``--env``): the emulator stepped with random actions, the
collect policy's forward pass in ``tf.function``, ``agent.train`` on a collected segment in
``tf.function``. Their sum is the time of a strictly serial iteration, and ``B * T`` divided by
it is the bound in agent steps per second that overlapping nothing allows. The whole iteration
(``OnPolicyIteration.train_step``, what ``fit`` runs) is timed the same way and reported as a
fraction of that bound; the largest part is what limits the run.

With ale-py's vector env (the ``ale`` backend of Atari ids) three more loops of ``T`` steps on
its raw ``send``/``recv`` API measure whether stepping the emulators while the network computes
would pay on this machine: the emulator alone (``send``, ``recv``), then the two one after the
other (``send``, ``recv``, one forward pass) and beside each other (``send``, one forward pass,
``recv``: the C++ threads step the games while TensorFlow runs). On a machine whose cores are all
busy with either part the two loops take the same time and there is nothing to gain; the closer
"beside" comes to the larger part alone, the more an overlapping collector would win.

    .venv/bin/python benchmarks/segment_bound.py --env PongNoFrameskip-v4 --preset atari \
        --precision mixed_bfloat16
    .venv/bin/python benchmarks/segment_bound.py --env CartPole-v1 --num-envs 8

Medians over ``--repeats`` timings of ``--iterations`` each. Prints one table and one JSON line;
never fails a test run.
"""

import argparse
import json
import os
import platform
import statistics
import time
import typing

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import envs
from softrl_tf.agents import build_agent
from softrl_tf.config import Precision
from softrl_tf.networks import resolve_precision
from softrl_tf.presets import resolve
from softrl_tf.training.collect import collect_segment
from softrl_tf.training.iterations import OnPolicyIteration

import numpy as np
import tensorflow as tf
from tf_agents.environments import tf_py_environment


def median_ms(fn, iterations: int, repeats: int) -> float:
    """Median over ``repeats`` of the mean wall time of ``fn()`` over ``iterations`` calls, ms."""
    fn()  # warm-up: tracing, first allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(iterations):
            fn()
        times.append((time.perf_counter() - start) / iterations)
    return 1000 * statistics.median(times)


def median_timings(fns: dict, args) -> dict:
    """:func:`median_ms` of each named callable, with the run's ``--iterations``/``--repeats``."""
    return {name: median_ms(fn, args.iterations, args.repeats) for name, fn in fns.items()}


def fetched(fn):
    """``fn`` with every tensor it returns read to the host, so that a timing waits for its work."""
    return lambda: tf.nest.map_structure(lambda t: t.numpy(), fn())


def measure(args) -> dict:
    """The four timings (ms per segment) and the derived rates of one configuration."""
    overrides = {"env": args.env, "precision": args.precision}
    if args.num_envs:
        overrides["num_envs"] = args.num_envs
    run = resolve(args.agent, args.preset, None, overrides)
    cfg, n_steps = run.train, run.agent.n_steps
    py_env = envs.make_env(cfg.env, cfg.num_envs, backend=cfg.backend, seed=0)
    tf_env = tf_py_environment.TFPyEnvironment(py_env)
    agent = build_agent(
        args.agent,
        run.agent,
        tf_env.time_step_spec(),
        tf_env.action_spec(),
        total_updates=10**6,
    )
    agent.initialize()
    batch = tf_env.batch_size
    rng = np.random.default_rng(0)
    num_actions = int(tf_env.action_spec().maximum) + 1
    py_env.reset()

    def random_actions():
        return rng.integers(num_actions, size=batch).astype(np.int32)

    def emulator():
        for _ in range(n_steps):
            py_env.step(random_actions())

    time_step = tf_env.reset()

    @tf.function(autograph=False)
    def forward_passes():  # T passes in one call, as inside the iteration's graph
        return tf.stack([agent.collect_policy.action(time_step).action for _ in range(n_steps)])

    experience, _ = tf.function(
        lambda: collect_segment(tf_env, agent.collect_policy, n_steps), autograph=False
    )()
    agent_train = tf.function(agent.train, autograph=False)
    iteration = OnPolicyIteration(agent, tf_env)
    timed = {
        "emulator": emulator,
        "forward": fetched(forward_passes),
        "update": fetched(lambda: agent_train(experience).loss),
        "iteration": fetched(iteration.train_step),
    }
    vector_env = getattr(py_env, "vector_env", None)
    overlap = callable(getattr(vector_env, "send", None))
    if overlap:
        forward_pass = tf.function(
            lambda: agent.collect_policy.action(time_step).action, autograph=False
        )

        def raw_loop(*, forward: bool, beside: bool):
            def loop():
                for _ in range(n_steps):
                    vector_env.send(random_actions())
                    if forward and beside:
                        forward_pass().numpy()
                    vector_env.recv()
                    if forward and not beside:
                        forward_pass().numpy()

            return loop

        timed["raw_emulator"] = raw_loop(forward=False, beside=False)
        timed["emulator_then_forward"] = raw_loop(forward=True, beside=False)
        timed["emulator_beside_forward"] = raw_loop(forward=True, beside=True)
    timings = median_timings(timed, args)
    py_env.close()
    parts = {name: timings[name] for name in ("emulator", "forward", "update")}
    row = {
        "agent": args.agent,
        "env": cfg.env,
        "num_envs": batch,
        "n_steps": n_steps,
        "precision": resolve_precision(args.precision),
        **bound_figures(batch * n_steps, parts, timings["iteration"]),
    }
    if overlap:
        row.update(
            overlap_figures(
                timings["raw_emulator"],
                timings["emulator_then_forward"],
                timings["emulator_beside_forward"],
            )
        )
    return row


def overlap_figures(emulator_ms: float, then_ms: float, beside_ms: float) -> dict:
    """How much overlapping the emulator with the forward passes saved (ms per segment of the
    three raw loops): ``saved_fraction`` is the time saved over the smaller of the two parts (the
    forward passes' part is ``then_ms - emulator_ms``): 0 when "beside" takes as long as "then",
    1 when the smaller part is wholly hidden, negative when contention made it slower."""
    hideable = min(emulator_ms, then_ms - emulator_ms)
    return {
        "raw_emulator_ms": round(emulator_ms, 2),
        "emulator_then_forward_ms": round(then_ms, 2),
        "emulator_beside_forward_ms": round(beside_ms, 2),
        "saved_fraction": round((then_ms - beside_ms) / hideable, 3),
    }


def bound_figures(steps: int, parts: dict, iteration_ms: float) -> dict:
    """The row of an iteration of ``steps`` agent steps: each part's and the whole iteration's
    ms, the serial bound (``steps`` over the parts' sum), the iteration's rate and share of it,
    the largest part, the machine."""
    serial = sum(parts.values())
    return {
        **{f"{name}_ms": round(value, 2) for name, value in parts.items()},
        "iteration_ms": round(iteration_ms, 2),
        "bound_steps_per_s": round(1000 * steps / serial, 1),
        "iteration_steps_per_s": round(1000 * steps / iteration_ms, 1),
        "fraction_of_bound": round(serial / iteration_ms, 3),
        "limit": max(parts, key=parts.get),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, TF {tf.__version__}",
    }


def run_arguments(agents: tuple[str, ...], doc: str) -> argparse.ArgumentParser:
    """The flags both bound benchmarks take: agent, preset, environment, timing repeats."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--agent", default=agents[0], choices=agents)
    parser.add_argument("--preset", default=None, help="a preset of softrl_tf.presets")
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-envs", type=int, default=0, help="0: the preset's")
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    return parser


def print_bound(row: dict, parts: tuple[str, ...], unit: str) -> None:
    """The table of :func:`bound_figures`' row, then its JSON line."""
    for key in (*(f"{part}_ms" for part in parts), "iteration_ms"):
        print(f"{key:>18}: {row[key]:8.2f} ms per {unit}")
    print(
        f"{'serial bound':>18}: {row['bound_steps_per_s']:8.1f} agent steps/s; the iteration "
        f"runs at {row['iteration_steps_per_s']:.1f} ({row['fraction_of_bound']:.0%} of it); "
        f"largest part: {row['limit']}"
    )
    print(json.dumps(row))


def main():
    parser = run_arguments(("a2c", "softq"), __doc__)
    parser.add_argument(
        "--precision",
        default="float32",
        choices=typing.get_args(Precision),
        help="the agents' precision setting (mixed_bfloat16: the torso in bfloat16)",
    )
    args = parser.parse_args()
    row = measure(args)
    unit = f"segment of {row['num_envs']}x{row['n_steps']}"
    if "saved_fraction" in row:
        print(
            f"raw send/recv loops, ms per {unit}: emulator {row['raw_emulator_ms']:.2f}, "
            f"emulator then forward {row['emulator_then_forward_ms']:.2f}, emulator beside "
            f"forward {row['emulator_beside_forward_ms']:.2f}: overlapping saved "
            f"{row['saved_fraction']:.0%} of the smaller part"
        )
    print_bound(row, ("emulator", "forward", "update"), unit)


if __name__ == "__main__":
    main()

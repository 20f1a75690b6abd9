"""The serial bound of replay training (soft_dqn, dqn), and how close an iteration comes to it.

One off-policy iteration is one batch step of ``B`` environments into replay, then
``B / env_steps_per_update`` updates, each on a minibatch sampled from replay. Each part is
timed alone here, in one process, with the run's own agent, environment and replay (built by the
library from ``--agent``/``--preset``/``--env``): the emulator's batch step with random actions,
the collect step (forward pass, emulator, writing into replay; the emulator's share is taken
off), sampling the iteration's minibatches, and its ``agent.train`` calls on a sampled
minibatch (each in one ``tf.function`` call, as in the iteration's graph). Their sum is a strictly
serial iteration; ``B`` divided by it is the bound in agent steps per second. The whole
iteration (``OffPolicyIteration.train_step``, what ``fit`` runs after ``learning_starts``) is
timed the same way and reported against that bound.

    .venv/bin/python benchmarks/replay_bound.py --env PongNoFrameskip-v4 --preset atari

Medians over ``--repeats`` timings of ``--iterations`` each. The replay is filled with
``--fill`` random-policy steps first; its capacity (``--replay-capacity``) changes no timing
measured here (100k and 1M transitions gave the same rates), so a small one saves the 7 GB.
Prints one table and one JSON line; never fails a test run.
"""

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf import envs
from softrl_tf.agents import build_agent
from softrl_tf.presets import resolve
from softrl_tf.training.iterations import OffPolicyIteration

import numpy as np
import tensorflow as tf
from segment_bound import bound_figures, fetched, median_timings, print_bound, run_arguments
from tf_agents.environments import tf_py_environment

PARTS = ("emulator", "collect_rest", "sample", "update")


def measure(args) -> dict:
    """The timings (ms per iteration) and the derived rates of one configuration."""
    overrides = {"env": args.env, "replay_capacity": args.replay_capacity}
    if args.num_envs:
        overrides["num_envs"] = args.num_envs
    run = resolve(args.agent, args.preset, None, overrides)
    cfg, replay = run.train, run.replay
    py_env = envs.make_env(cfg.env, cfg.num_envs, backend=cfg.backend, seed=0)
    tf_env = tf_py_environment.TFPyEnvironment(py_env)
    agent = build_agent(
        args.agent, run.agent, tf_env.time_step_spec(), tf_env.action_spec(), total_updates=10**6
    )
    agent.initialize()
    iteration = OffPolicyIteration(agent, tf_env, replay)
    batch = tf_env.batch_size
    for _ in range(max(1, args.fill // batch)):
        iteration.collect()
    updates = iteration.updates_per_call
    # The emulator alone on its own environments: stepping the training ones outside the
    # iteration would break the frame replay's record of each environment's stack.
    emulator_env = envs.make_env(cfg.env, cfg.num_envs, backend=cfg.backend, seed=1)
    emulator_env.reset()
    rng = np.random.default_rng(0)
    num_actions = int(tf_env.action_spec().maximum) + 1

    def emulator():
        emulator_env.step(rng.integers(num_actions, size=batch).astype(np.int32))

    def draw():
        return iteration.replay_buffer.get_next(
            sample_batch_size=replay.batch_size, num_steps=agent.train_sequence_length
        )[0]

    # Each part is one call running it as often as an iteration does, as inside the iteration's
    # graph: timing single calls would add a call's overhead per sample and per update.
    @tf.function(autograph=False)
    def samples():
        return [tf.nest.flatten(draw())[0] for _ in range(updates)]

    experience = draw()

    @tf.function(autograph=False)
    def trains():
        return [agent.train(experience).loss for _ in range(updates)]

    timings = median_timings(
        {
            "emulator": emulator,
            "collect": iteration.collect,
            "sample": fetched(samples),
            "update": fetched(trains),
            "iteration": fetched(iteration.train_step),
        },
        args,
    )
    py_env.close()
    emulator_env.close()
    timings["collect_rest"] = max(timings.pop("collect") - timings["emulator"], 0.0)
    per_iteration = {name: timings[name] for name in PARTS}
    return {
        "agent": args.agent,
        "env": cfg.env,
        "num_envs": batch,
        "batch_size": replay.batch_size,
        "updates_per_iteration": updates,
        **bound_figures(batch, per_iteration, timings["iteration"]),
    }


def main():
    parser = run_arguments(("soft_dqn", "dqn"), __doc__)
    parser.add_argument("--replay-capacity", type=int, default=100_000)
    parser.add_argument("--fill", type=int, default=2_000, help="random steps put in first")
    args = parser.parse_args()
    row = measure(args)
    unit = f"iteration ({row['num_envs']} envs, {row['updates_per_iteration']} updates of "
    print_bound(row, PARTS, unit + f"{row['batch_size']})")


if __name__ == "__main__":
    main()

"""Environment throughput: environment steps per second with random actions, no learning.

This is the "environment limit" of benchmarks/BENCHMARKS.md: the ceiling that training throughput
is compared with. Two settings, each stack stepped with the same pre-drawn random actions:

* CartPole-v1 x 8: raw gymnasium ``SyncVectorEnv`` and ``AsyncVectorEnv`` (the baselines), then
  ``softrl_tf.envs.make_env`` with each backend, then TF-Agents' ``BatchedPyEnvironment`` over 8
  single-environment ``GymnasiumPyEnvironment``s for comparison.
* Pong x 16 with the DeepMind preprocessing (no-op reset 30, frame skip 4 with max-pool, 84x84
  grey, 4-frame stack): raw gymnasium vector envs over ``AtariPreprocessing`` +
  ``FrameStackObservation`` and raw ale-py ``AtariVectorEnv`` (the baselines), then ``make_env``
  with each backend, then TF-Agents' ``BatchedPyEnvironment``.

Machines are shared: each repeat runs every stack once, one after the other (A, B, C, A, B, C...),
and the table gives the median over repeats of the throughput and of the ratio to the first
baseline measured in the same repeat. Nothing here fails; it prints figures.

Usage::

    .venv/bin/python benchmarks/env_throughput.py --steps 2000 --atari-steps 200 --repeats 5
    .venv/bin/python benchmarks/env_throughput.py --only cartpole --skip parallel
"""

from __future__ import annotations

import argparse
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable

import softrl_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from softrl_tf import env_ids
from softrl_tf.envs import GymnasiumPyEnvironment, atari, make_env

import gymnasium
import numpy as np
from tf_agents.environments import batched_py_environment

NEXT_STEP = gymnasium.vector.AutoresetMode.NEXT_STEP
WARMUP_STEPS = 20


SYNC_RAW = "gymnasium SyncVectorEnv (raw)"
ASYNC_RAW = "gymnasium AsyncVectorEnv, shared memory (raw)"
ALE_RAW = "ale-py AtariVectorEnv (raw)"
SHORT = {SYNC_RAW: "raw Sync", ASYNC_RAW: "raw Async", ALE_RAW: "raw ale-py"}


class Stack:
    """One environment stack under test: ``step(actions)`` on a batch of ``num_envs``.

    ``baseline`` names the raw stack that this one wraps (its ratio to it is reported).
    """

    def __init__(
        self,
        name: str,
        build: Callable[[], tuple[Callable, Callable, Callable]],
        baseline: str | None = None,
    ):
        self.name = name
        self.baseline = baseline
        self._build = build
        self.step = self.reset = self.close = None

    def open(self) -> None:
        self.reset, self.step, self.close = self._build()
        self.reset()


def _gymnasium_stack(vector_env_cls, make_one, num_envs, **kwargs):
    def build():
        env = vector_env_cls([make_one] * num_envs, autoreset_mode=NEXT_STEP, **kwargs)
        return functools.partial(env.reset, seed=0), env.step, env.close

    return build


def _py_environment_stack(make):
    def build():
        env = make()
        return env.reset, env.step, env.close

    return build


def _tf_agents_batched(make_one, num_envs):
    def make():
        return batched_py_environment.BatchedPyEnvironment(
            [GymnasiumPyEnvironment(make_one(), seed=i) for i in range(num_envs)],
            multithreading=False,
        )

    return make


def _raw_ale_stack(game, num_envs):
    def build():
        from ale_py.vector_env import AtariVectorEnv

        env = AtariVectorEnv(
            game,
            num_envs,
            num_threads=min(num_envs, os.cpu_count() or 1),
            repeat_action_probability=0.0,
            autoreset_mode=NEXT_STEP,
            use_fire_reset=False,
            reward_clipping=True,
        )
        return functools.partial(env.reset, seed=0), env.step, env.close

    return build


def _raw_atari_env(env_id):
    """gymnasium's own DeepMind stack, as its documentation builds it (channel-first frames)."""
    env = gymnasium.make(env_id, frameskip=1, repeat_action_probability=0.0, obs_type="grayscale")
    env = gymnasium.wrappers.AtariPreprocessing(
        env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True
    )
    return gymnasium.wrappers.FrameStackObservation(env, 4)


def cartpole_stacks(num_envs: int) -> list[Stack]:
    make_one = functools.partial(gymnasium.make, "CartPole-v1")
    sync, async_ = gymnasium.vector.SyncVectorEnv, gymnasium.vector.AsyncVectorEnv
    return [
        Stack(SYNC_RAW, _gymnasium_stack(sync, make_one, num_envs)),
        Stack(ASYNC_RAW, _gymnasium_stack(async_, make_one, num_envs, shared_memory=True)),
        *_make_env_stacks("CartPole-v1", num_envs, ("sync", "async", "parallel")),
        Stack(
            "TF-Agents BatchedPyEnvironment (single-env wrappers)",
            _py_environment_stack(_tf_agents_batched(make_one, num_envs)),
            SYNC_RAW,
        ),
    ]


def pong_stacks(num_envs: int) -> list[Stack]:
    env_ids.import_ale()
    make_raw = functools.partial(_raw_atari_env, "ALE/Pong-v5")
    sync, async_ = gymnasium.vector.SyncVectorEnv, gymnasium.vector.AsyncVectorEnv
    make_ours = functools.partial(
        atari.make_atari_gymnasium_env, "ALE/Pong-v5", atari.AtariOptions()
    )
    return [
        Stack(SYNC_RAW, _gymnasium_stack(sync, make_raw, num_envs)),
        Stack(ASYNC_RAW, _gymnasium_stack(async_, make_raw, num_envs, shared_memory=True)),
        Stack(ALE_RAW, _raw_ale_stack("pong", num_envs)),
        *_make_env_stacks("ALE/Pong-v5", num_envs, ("ale", "sync", "async", "parallel")),
        Stack(
            "TF-Agents BatchedPyEnvironment (single-env wrappers)",
            _py_environment_stack(_tf_agents_batched(make_ours, num_envs)),
            SYNC_RAW,
        ),
    ]


def _make_env_stacks(env_id, num_envs, backends):
    baselines = {"sync": SYNC_RAW, "async": ASYNC_RAW, "ale": ALE_RAW, "parallel": SYNC_RAW}
    return [
        Stack(
            f"softrl_tf make_env, backend={backend!r}",
            _py_environment_stack(functools.partial(make_env, env_id, num_envs, backend=backend)),
            baselines[backend],
        )
        for backend in backends
    ]


def measure(stacks: list[Stack], num_envs: int, num_actions: int, steps: int, repeats: int):
    """Steps per second of each stack, ``repeats`` times, interleaved: name -> list of floats.

    Returns the results and ``{name: baseline name}``.
    """
    actions = np.random.default_rng(0).integers(0, num_actions, (256, num_envs), dtype=np.int64)
    for stack in stacks:
        stack.open()
        for i in range(WARMUP_STEPS):
            stack.step(actions[i])
    results = {stack.name: [] for stack in stacks}
    try:
        for _ in range(repeats):
            for stack in stacks:
                step = stack.step
                start = time.perf_counter()
                for i in range(steps):
                    step(actions[i & 255])
                results[stack.name].append(steps * num_envs / (time.perf_counter() - start))
    finally:
        for stack in stacks:
            stack.close()
    return results, {stack.name: stack.baseline for stack in stacks}


def _median_ratio(rates, baseline_rates):
    """Median over repeats of the ratio measured within each repeat."""
    return statistics.median(r / b for r, b in zip(rates, baseline_rates, strict=True))


def report(title: str, results: dict[str, list[float]], baselines: dict[str, str | None]):
    """Prints a markdown table: median steps/s, median ratios (to the first stack and to the raw
    stack that a stack wraps), range."""
    first = next(iter(results.values()))
    print(f"\n{title}\n")
    print(
        "| stack | env steps/s (median) | ratio to the first row | ratio to its raw baseline "
        "| min - max |"
    )
    print("|---|---:|---:|---:|---:|")
    for name, rates in results.items():
        baseline = baselines[name]
        own = (
            f"{_median_ratio(rates, results[baseline]):.2f} ({SHORT[baseline]})"
            if baseline in results
            else ""
        )
        print(
            f"| {name} | {statistics.median(rates):,.0f} | {_median_ratio(rates, first):.2f} | "
            f"{own} | {min(rates):,.0f} - {max(rates):,.0f} |"
        )


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=2000, help="batched steps per CartPole run")
    parser.add_argument("--atari-steps", type=int, default=200, help="batched steps per Pong run")
    parser.add_argument("--repeats", type=int, default=5, help="runs of each stack (median)")
    parser.add_argument("--only", choices=("cartpole", "pong"), help="run one setting only")
    parser.add_argument(
        "--skip", action="append", default=[], help="skip stacks whose name contains this text"
    )
    args = parser.parse_args(argv)
    print(
        f"# {platform.node()}: {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"gymnasium {gymnasium.__version__}, numpy {np.__version__}; "
        f"{time.strftime('%Y-%m-%d %H:%M')}; repeats={args.repeats}; {_load()}"
    )

    def keep(stacks):
        return [s for s in stacks if not any(text in s.name for text in args.skip)]

    if args.only in (None, "cartpole"):
        results = measure(keep(cartpole_stacks(8)), 8, 2, args.steps, args.repeats)
        report(f"CartPole-v1 x 8, random actions, {args.steps} batched steps per run", *results)
    if args.only in (None, "pong"):
        results = measure(keep(pong_stacks(16)), 16, 6, args.atari_steps, args.repeats)
        report(
            f"Pong x 16, DeepMind preprocessing, random actions, {args.atari_steps} batched steps "
            "per run",
            *results,
        )
    print(f"\n# done {time.strftime('%Y-%m-%d %H:%M')}; {_load()}")


def _load() -> str:
    """The load averages: other work on a shared machine shows here."""
    return "load average (1, 5, 15 min): {:.1f} {:.1f} {:.1f}".format(*os.getloadavg())


if __name__ == "__main__":
    main()

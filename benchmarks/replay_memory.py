"""Replay memory and sampling speed: softrl_tf's FrameReplayBuffer against TF-Agents' buffer.

Two figures (benchmarks/BENCHMARKS.md, "Memory"):

* bytes per stored transition, measured on the variables of both buffers built for Atari items
  (uint8 ``[84, 84, 4]`` stacks, the agents' ``Trajectory``) at a small capacity, and the
  estimate both give for the preset's 1M transitions over 16 environments (the estimate is the
  same sum of variable sizes; the test suite checks that it equals the measured one);
* uniform sampling speed, minibatches of ``[batch, n_steps + 1]`` windows drawn in a
  ``tf.function`` from full buffers, side by side (A, B, A, B...): CartPole-shaped items (the
  issue's yardstick: not slower than today's buffer) and Atari-shaped items (frames rebuilt).

Prints figures; fails nothing. Usage::

    .venv/bin/python benchmarks/replay_memory.py --repeats 5
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time

import softrl_tf  # noqa: F401  (sets TF_USE_LEGACY_KERAS before TensorFlow loads)
from softrl_tf.replay import FrameReplayBuffer, replay_bytes, variable_bytes

import numpy as np
import tensorflow as tf
from tf_agents.replay_buffers import tf_uniform_replay_buffer
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import trajectory


def _spec(observation):
    return trajectory.Trajectory(
        step_type=tf.TensorSpec([], tf.int32),
        observation=observation,
        action=tensor_spec.BoundedTensorSpec([], tf.int64, 0, 5),
        policy_info=(),
        next_step_type=tf.TensorSpec([], tf.int32),
        reward=tf.TensorSpec([], tf.float32),
        discount=tf.TensorSpec([], tf.float32),
    )


ATARI = _spec(tensor_spec.BoundedTensorSpec([84, 84, 4], tf.uint8, 0, 255))
CARTPOLE = _spec(tensor_spec.TensorSpec([4], tf.float32))


def _buffers(spec, num_envs, max_length):
    return {
        "FrameReplayBuffer": FrameReplayBuffer(spec, num_envs, max_length),
        "TFUniformReplayBuffer": tf_uniform_replay_buffer.TFUniformReplayBuffer(
            spec, batch_size=num_envs, max_length=max_length
        ),
    }


def _fill(buffers, spec, num_envs, max_length, seed=0):
    """Adds ``max_length`` batch steps of random items: frame stacks that shift one frame per
    step, with an episode start (zero padding) every 50 steps."""
    rng = np.random.default_rng(seed)
    adds = {
        name: tf.function(lambda x, b=b: b.add_batch(x) and None) for name, b in buffers.items()
    }
    stack = None
    for t in range(max_length):
        item = tf.nest.map_structure(
            lambda s: rng.uniform(0, 5, [num_envs, *s.shape]).astype(s.dtype.as_numpy_dtype),
            spec,
        )
        if spec.observation.dtype == tf.uint8:
            frame = rng.integers(0, 256, [num_envs, 84, 84, 1], dtype=np.uint8)
            if stack is None or t % 50 == 0:
                stack = np.zeros([num_envs, 84, 84, 4], np.uint8)
            stack = np.concatenate([stack[..., 1:], frame], axis=-1)
            item = item._replace(observation=stack)
        for add in adds.values():
            add(item)


def _sampling_rates(buffers, batch, num_steps, calls, repeats):
    """Minibatches per second of each buffer, median over ``repeats`` alternating rounds."""
    samplers = {}
    for name, buffer in buffers.items():

        @tf.function(autograph=False)
        def sample(buffer=buffer):
            # Reduced to a scalar that reads every observation (the same shapes from both
            # buffers): the call costs the sampling, not a copy to Python.
            def draw(i, total):
                items, _ = buffer.get_next(sample_batch_size=batch, num_steps=num_steps)
                return i + 1, total + tf.cast(tf.reduce_max(items.observation), tf.float32)

            return tf.while_loop(lambda i, _: i < calls, draw, (0, tf.constant(0.0)))[1]

        sample()  # trace
        samplers[name] = sample
    rates = {name: [] for name in buffers}
    for _ in range(repeats):
        for name, sample in samplers.items():
            start = time.perf_counter()
            sample()
            rates[name].append(calls / (time.perf_counter() - start))
    return rates


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100, help="minibatches per timed call")
    args = parser.parse_args()
    print(f"machine: {os.cpu_count()} cores, {platform.platform()}, TF {tf.__version__}")

    num_envs, max_length = 8, 500
    atari = _buffers(ATARI, num_envs, max_length)
    print(f"\nbytes per transition, Atari items, {num_envs} envs x {max_length} (measured):")
    for name, buffer in atari.items():
        print(f"  {name:22s} {variable_bytes(buffer) / (num_envs * max_length):10,.0f}")
    print("estimate for 1,000,000 transitions over 16 envs:")
    for name, frames in (("FrameReplayBuffer", True), ("TFUniformReplayBuffer", False)):
        total = replay_bytes(ATARI, 16, 62_500, frames)
        print(f"  {name:22s} {total / 1e9:6.2f} GB ({total / 1e6:,.0f} bytes per transition)")

    for what, spec, envs, length, batch in (
        ("CartPole", CARTPOLE, 8, 2_000, 64),
        ("Atari", ATARI, num_envs, max_length, 32),
    ):
        buffers = atari if spec is ATARI else _buffers(spec, envs, length)
        _fill(buffers, spec, envs, length)
        # CartPole minibatches are ~100x cheaper: more per timed call, against the noise.
        calls = args.calls * (10 if spec is CARTPOLE else 1)
        rates = _sampling_rates(buffers, batch, 2, calls, args.repeats)
        frame, tfa = rates["FrameReplayBuffer"], rates["TFUniformReplayBuffer"]
        ratio = statistics.median(f / t for f, t in zip(frame, tfa, strict=True))
        print(
            f"\n{what}-shaped sampling, {envs * length:,} items, batch {batch} x 2 steps, "
            f"minibatches/s, median (min - max) of {args.repeats}:"
        )
        for name, values in rates.items():
            print(
                f"  {name:22s} {statistics.median(values):9,.0f} "
                f"({min(values):,.0f} - {max(values):,.0f})"
            )
        print(f"  ratio FrameReplayBuffer / TFUniformReplayBuffer: {ratio:.2f}x")


if __name__ == "__main__":
    main()

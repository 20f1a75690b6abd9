"""A fake pixel environment with frame stacks, driven and recorded step by step.

``PixelEnv`` draws random grey frames and ends episodes at random lengths, by termination or by
truncation; :func:`pixel_env` stacks its frames as the Atari layer does (gymnasium's
``FrameStackObservation``, channel last), with zero or repeat padding at episode starts.
:func:`record` steps any batched environment with random actions and writes down every item a
replay buffer is given, per environment, in order: the reference that sampled windows are compared
with.
"""

from __future__ import annotations

from softrl_tf.envs.atari import channels_last
from softrl_tf.envs.gymnasium_env import GymnasiumVectorPyEnvironment

import gymnasium
import numpy as np
import tensorflow as tf
from gymnasium import spaces
from tf_agents.specs import tensor_spec
from tf_agents.trajectories import policy_step, trajectory


class PixelEnv(gymnasium.Env):
    """Random ``[height, width]`` uint8 frames; episodes of 3 to 12 steps."""

    metadata = {"render_modes": []}

    def __init__(self, height=6, width=5):
        self.observation_space = spaces.Box(0, 255, (height, width), np.uint8)
        self.action_space = spaces.Discrete(3)
        self._left = 0

    def _frame(self):
        return self.np_random.integers(1, 256, self.observation_space.shape, dtype=np.uint8)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._left = int(self.np_random.integers(3, 13))
        return self._frame(), {}

    def step(self, action):
        self._left -= 1
        ended = self._left <= 0
        truncated = ended and bool(self.np_random.integers(2))
        return self._frame(), float(action), ended and not truncated, truncated, {}


def pixel_env(padding="zero", depth=4, height=6, width=5) -> gymnasium.Env:
    """A :class:`PixelEnv` with channel-last stacks of ``depth`` frames."""
    env = gymnasium.wrappers.FrameStackObservation(
        PixelEnv(height, width), depth, padding_type=padding
    )
    return gymnasium.wrappers.TransformObservation(
        env, channels_last, spaces.Box(0, 255, (height, width, depth), np.uint8)
    )


def batched_pixel_env(num_envs=3, padding="zero", seed=0, **kwargs):
    """``num_envs`` stacked :class:`PixelEnv` as the library's batched environment."""
    vector = gymnasium.vector.SyncVectorEnv(
        [lambda: pixel_env(padding, **kwargs) for _ in range(num_envs)],
        autoreset_mode=gymnasium.vector.AutoresetMode.NEXT_STEP,
    )
    return GymnasiumVectorPyEnvironment(vector, seed=seed)


def data_spec(py_env) -> trajectory.Trajectory:
    """The replay items' spec of a batched environment (as an agent's ``collect_data_spec``)."""
    time_step = tensor_spec.from_spec(py_env.time_step_spec())
    action = policy_step.PolicyStep(tensor_spec.from_spec(py_env.action_spec()), (), ())
    return trajectory.from_transition(time_step, action, time_step)


def record(py_env, buffer, steps, seed=0):
    """Steps ``py_env`` ``steps`` times with random actions, adding each item to ``buffer``.

    Returns:
      One list per environment of its items (numpy ``Trajectory`` of one environment), in the
      order added: item ``i`` is the one the buffer gives id ``i``.
    """
    rng = np.random.default_rng(seed)

    @tf.function(autograph=False)
    def add(item):  # in a graph, as the off-policy iteration adds
        buffer.add_batch(item)

    n = py_env.batch_size
    items = [[] for _ in range(n)]
    high = int(py_env.action_spec().maximum) + 1
    time_step = py_env.reset()
    for _ in range(steps):
        action = rng.integers(0, high, n).astype(np.int64)
        next_step = py_env.step(action)
        item = trajectory.Trajectory(
            step_type=time_step.step_type,
            observation=time_step.observation.copy(),
            action=action,
            policy_info=(),
            next_step_type=next_step.step_type,
            reward=next_step.reward,
            discount=next_step.discount,
        )
        add(item)
        for b in range(n):
            items[b].append(tf.nest.map_structure(lambda x, b=b: np.asarray(x[b]), item))
        time_step = next_step
    return items

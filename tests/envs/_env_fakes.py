"""Fake gymnasium environments with known episode lengths, and the time steps they must give.

``CountingEnv`` terminates after a fixed number of steps; wrapped in ``TimeLimit`` it is truncated
instead when the limit comes first. :func:`reference_time_steps` writes down, step by step, what a
batched TF-Agents environment must return for a batch of them (gymnasium semantics mapped onto
TF-Agents' FIRST/MID/LAST), independently of the code under test.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

REWARD_SCALE = 2.5  # reward = REWARD_SCALE * action: negative, zero and positive, never +-1


class CountingEnv(gymnasium.Env):
    """Episodes of ``length`` steps ending by termination; observation ``[episode, t]``.

    Args:
      length: steps per episode; ``None`` takes ``2 + seed`` from the first seeded reset (so that
        ``make_env(..., seed=0)`` gives environment ``i`` episodes of ``2 + i`` steps).
      obs_dtype: dtype of the observation.
      n_actions, action_start: the ``Discrete(n_actions, start=action_start)`` action space.

    ``reward = REWARD_SCALE * action`` (the gymnasium action, start included). ``episode`` counts
    resets from 0, ``t`` the steps of the current episode. The observation also carries a draw from
    the environment's seeded ``np_random`` (third entry), so that seeding is visible.
    """

    metadata = {"render_modes": []}

    def __init__(self, length=None, obs_dtype=np.int64, n_actions=3, action_start=-1):
        self.observation_space = spaces.Box(0, 250, (3,), obs_dtype)
        self.action_space = spaces.Discrete(n_actions, start=action_start)
        self._length = length
        self._episode = -1
        self._t = 0
        self._draw = 0

    def _obs(self):
        return np.array([self._episode, self._t, self._draw], self.observation_space.dtype)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        if self._length is None:
            if seed is None:
                raise ValueError("CountingEnv(length=None) needs a seeded first reset")
            self._length = 2 + seed
        self._episode += 1
        self._t = 0
        self._draw = int(self.np_random.integers(0, 250))
        return self._obs(), {"episode": self._episode}

    def step(self, action):
        if not self.action_space.contains(action):
            raise AssertionError(f"action {action!r} outside {self.action_space}")
        self._t += 1
        terminated = self._t >= self._length
        return self._obs(), REWARD_SCALE * float(action), terminated, False, {}


def counting_env(length=None, time_limit=None, **kwargs) -> gymnasium.Env:
    """A :class:`CountingEnv`, truncated after ``time_limit`` steps when given (picklable)."""
    env = CountingEnv(length, **kwargs)
    if time_limit is not None:
        env = gymnasium.wrappers.TimeLimit(env, max_episode_steps=time_limit)
    return env


def reference_time_steps(lengths, time_limit, actions, action_start=-1, clip=False):
    """The time steps a batch of ``counting_env(lengths[i], time_limit)`` must give.

    Args:
      lengths: episode length of each environment.
      time_limit: the ``TimeLimit`` of every environment, or None.
      actions: int ``[T, B]`` agent actions (0-based) of the ``T`` steps after the reset.

    Returns:
      ``(step_types, rewards, discounts, obs_episode_t, finished)``: arrays ``[T, B]``
      (observations ``[T, B, 2]``: episode and t) and a list of ``(step, env, return, length)``
      for every episode that ended.
    """
    num_steps, num_envs = np.shape(actions)
    step_types = np.zeros((num_steps, num_envs), np.int32)
    rewards = np.zeros((num_steps, num_envs), np.float32)
    discounts = np.ones((num_steps, num_envs), np.float32)
    obs = np.zeros((num_steps, num_envs, 2), np.int64)
    finished = []
    for b in range(num_envs):
        episode, t, ep_return, reset_next = 0, 0, 0.0, False
        for k in range(num_steps):
            if reset_next:  # the step after LAST starts a new episode and ignores the action
                episode, t, ep_return, reset_next = episode + 1, 0, 0.0, False
                step_types[k, b] = 0
            else:
                t += 1
                raw = REWARD_SCALE * (actions[k][b] + action_start)
                ep_return += raw
                rewards[k, b] = np.sign(raw) if clip else raw
                terminated = t >= lengths[b]
                truncated = time_limit is not None and t >= time_limit
                if terminated or truncated:
                    step_types[k, b] = 2
                    discounts[k, b] = 0.0 if terminated else 1.0
                    finished.append((k, b, ep_return, t))
                    reset_next = True
                else:
                    step_types[k, b] = 1
            obs[k, b] = episode, t
    return step_types, rewards, discounts, obs, finished


class LivesEnv(gymnasium.Env):
    """A game of ``lives`` lives, one lost every ``life_length`` steps; ``info["lives"]``.

    Observation ``[game, t, lives, last action]`` (int64); ``reward = 10 + action``, never zero, so
    that a zeroed or clipped reward shows. The game terminates when the last life is lost.
    """

    metadata = {"render_modes": []}

    def __init__(self, life_length=3, lives=3):
        self.observation_space = spaces.Box(0, 1000, (4,), np.int64)
        self.action_space = spaces.Discrete(4)
        self._life_length, self._start_lives = life_length, lives
        self._game, self._t, self._lives, self._action = -1, 0, lives, 0

    def _obs(self):
        return np.array([self._game, self._t, self._lives, self._action], np.int64)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._game, self._t, self._lives, self._action = self._game + 1, 0, self._start_lives, 0
        return self._obs(), {"lives": self._lives}

    def step(self, action):
        self._t += 1
        self._action = int(action)
        if self._t % self._life_length == 0:
            self._lives -= 1
        terminated = self._lives == 0
        return self._obs(), 10.0 + action, terminated, False, {"lives": self._lives}

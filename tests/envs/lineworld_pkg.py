"""A tiny package-like module that registers ``LineWorld-v0`` with gymnasium on import.

Tests name it as ``"lineworld_pkg:LineWorld-v0"`` (gymnasium's ``module:EnvId`` form), so the
environment exists only once ``make_env`` has imported this module.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

ENV_ID = "LineWorld-v0"
LENGTH = 4


class LineWorld(gymnasium.Env):
    """Walk on ``0 .. LENGTH``: action 1 steps right, 0 stays; reaching ``LENGTH`` terminates
    with reward 1. Observation: float32 ``[1]``, the position."""

    metadata = {"render_modes": []}

    def __init__(self):
        self.observation_space = spaces.Box(0.0, float(LENGTH), (1,), np.float32)
        self.action_space = spaces.Discrete(2)
        self._position = 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._position = 0
        return np.array([self._position], np.float32), {}

    def step(self, action):
        self._position += int(action)
        terminated = self._position >= LENGTH
        return np.array([self._position], np.float32), float(terminated), terminated, False, {}


def make_line_world() -> gymnasium.Env:
    """A :class:`LineWorld` with a 20-step time limit (an environment constructor)."""
    return gymnasium.wrappers.TimeLimit(LineWorld(), max_episode_steps=20)


if ENV_ID not in gymnasium.registry:
    gymnasium.register(ENV_ID, entry_point=make_line_world)

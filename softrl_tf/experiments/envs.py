"""Environment set-up for the experiments: the MinAtar games as gymnasium ids.

The ``minatar`` package (the ``minatar`` extra) registers its games with
gymnasium only when ``minatar.gym.register_envs()`` is called, and its observations are ``bool``
grids ``[10, 10, C]`` (one channel per object type). :func:`register_minatar` registers the
``MinAtar/<Game>-v1`` ids (minimal action set, MinAtar's defaults: sticky actions 0.1, difficulty
ramping) with the observations cast to ``float32`` 0/1 grids: a ``bool`` ``Box`` has no numeric
bounds for a TF-Agents ``BoundedArraySpec``, and a ``uint8`` one would be read as image frames and
divided by 255 by :func:`softrl_tf.networks.preprocess_observation`. The network therefore sees
exactly the 0/1 values MinAtar produces.

:func:`prepare_env` is what the experiment runner calls in every process before training: it
registers MinAtar when an id asks for it and is a no-op otherwise.

Note: :func:`softrl_tf.envs.make_env` now registers MinAtar's own ids on first use and converts
``bool`` observations to float32 0/1 itself, giving the same observations, so this module is
redundant. It stays while ``runner.py`` and ``equivalence.py`` call :func:`prepare_env`; ids it
registered first are kept by ``make_env``.
"""

from __future__ import annotations

from softrl_tf.env_ids import MINATAR_PREFIX

import gymnasium
import numpy as np

MINATAR_GAMES = {
    "Asterix": "asterix",
    "Breakout": "breakout",
    "Freeway": "freeway",
    "Seaquest": "seaquest",
    "SpaceInvaders": "space_invaders",
}


class _FloatGrid(gymnasium.ObservationWrapper):
    """Casts a ``bool`` grid observation to ``float32`` 0/1 with a ``Box(0, 1)`` space."""

    def __init__(self, env: gymnasium.Env):
        super().__init__(env)
        shape = env.observation_space.shape
        self.observation_space = gymnasium.spaces.Box(0.0, 1.0, shape, np.float32)

    def observation(self, observation):
        return np.asarray(observation, dtype=np.float32)


def make_minatar(game: str, **kwargs) -> gymnasium.Env:
    """A MinAtar game (``"breakout"``, ...) with the minimal action set and float32 0/1 grids.

    ``kwargs`` go to ``minatar.Environment`` (``sticky_action_prob``, ``difficulty_ramping``).

    Raises:
      ValueError: when the ``minatar`` package is not installed (with the install command).
    """
    try:
        from minatar.gym import BaseEnv
    except ImportError as error:
        raise ValueError(
            f"MinAtar games need the minatar package ({error}): install the minatar extra with "
            '`pip install "softrl_tf[minatar]"`.'
        ) from None
    return _FloatGrid(BaseEnv(game, use_minimal_action_set=True, **kwargs))


def register_minatar() -> None:
    """Registers ``MinAtar/<Game>-v1`` for every game not registered yet (idempotent)."""
    for name, game in MINATAR_GAMES.items():
        env_id = f"{MINATAR_PREFIX}{name}-v1"
        if env_id not in gymnasium.registry:
            gymnasium.register(
                id=env_id,
                entry_point="softrl_tf.experiments.envs:make_minatar",
                kwargs={"game": game},
            )


def prepare_env(env_id: str) -> None:
    """Makes ``env_id`` available to :func:`softrl_tf.envs.make_env` in this process."""
    if env_id.startswith(MINATAR_PREFIX):
        register_minatar()

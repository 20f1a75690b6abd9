"""MinAtar ids for the experiments: registration and the batched environment they give."""

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.envs import make_env
from softrl_tf.experiments import envs

import gymnasium
import numpy as np
import pytest

pytest.importorskip("minatar")


def test_registration_is_idempotent_and_only_for_minatar_ids():
    envs.prepare_env("CartPole-v1")
    envs.prepare_env("MinAtar/Breakout-v1")
    envs.prepare_env("MinAtar/Breakout-v1")
    for name in envs.MINATAR_GAMES:
        assert f"MinAtar/{name}-v1" in gymnasium.registry


@pytest.mark.parametrize(
    ("game", "channels", "actions"), [("Breakout", 4, 3), ("SpaceInvaders", 6, 4)]
)
def test_make_env_gives_float_grids_of_zeros_and_ones(game, channels, actions):
    envs.prepare_env(f"MinAtar/{game}-v1")
    env = make_env(f"MinAtar/{game}-v1", 2, seed=0)
    try:
        spec = env.observation_spec()
        assert spec.shape == (10, 10, channels) and spec.dtype == np.float32
        assert int(env.action_spec().maximum) + 1 == actions  # the minimal action set
        time_step = env.reset()
        for _ in range(20):
            observation = time_step.observation
            assert observation.shape == (2, 10, 10, channels)
            assert set(np.unique(observation)) <= {0.0, 1.0} and observation.sum() > 0
            time_step = env.step(np.zeros(2, dtype=np.int64))
    finally:
        env.close()

"""Presets: named settings for ``TrainConfig`` and each agent's config.

A preset is a function ``preset(agent_name) -> (train_overrides, agent_overrides)`` of plain dicts;
the command line applies it on top of the defaults and under the flags given explicitly
(``scripts/train.py --agent=a2c --preset=atari --total-steps=1000000``).

* ``cartpole``: the registry's defaults, tuned on CartPole-v1 (8 environments).
* ``atari``: the paper's Atari settings (paper.md section 3): for a2c and softq, OpenAI baselines'
  A2C as the paper's section 6.1 and 6.3 runs used it (16 environments, 5 steps, RMSProp 7e-4
  decayed linearly to 0, gradient-norm clip 0.5, value coefficient 0.5, tau 0.01, Nature CNN);
  for soft_dqn and dqn, baselines' DQN defaults as a plausible base for section 6.2 (Adam 1e-4,
  replay 1e6, batch 32, an update every 4 steps, learning from 50k steps, target copy every 40k
  steps, double Q, Huber loss, clip 10, tau 0.1), with 8 environments stepped together.
"""

from __future__ import annotations

from collections.abc import Callable

ATARI_ENV = "PongNoFrameskip-v4"

_ATARI_ACTOR_CRITIC = {
    "torso": "nature_cnn",
    "optimizer": "rmsprop",
    "learning_rate": 7e-4,
    "lr_schedule": "linear",
    "optimizer_epsilon": 1e-5,
    "rmsprop_rho": 0.99,
    "max_grad_norm": 0.5,
    "tau": 0.01,
    "gamma": 0.99,
    "n_steps": 5,
}
_ATARI_DQN = {
    "torso": "nature_cnn",
    "optimizer": "adam",
    "learning_rate": 1e-4,
    "lr_schedule": "constant",
    "optimizer_epsilon": 1e-4,
    "max_grad_norm": 10.0,
    "tau": 0.1,
    "gamma": 0.99,
    "n_steps": 1,
    "double_q": True,
    "loss": "huber",
    "exploration": "epsilon",
    "epsilon_start": 1.0,
    "epsilon_end": 0.01,
    "epsilon_decay_fraction": 0.1,
    "replay_capacity": 1_000_000,
    "batch_size": 32,
    "learning_starts": 50_000,
    "env_steps_per_update": 4,
    # 40k environment steps at one update per 4 steps.
    "target_update_period": 10_000,
    "target_update_tau": 1.0,
}


def cartpole(agent: str) -> tuple[dict, dict]:
    """CartPole-v1 with the registry's tuned defaults."""
    del agent
    return {"env": "CartPole-v1", "num_envs": 8, "backend": "auto"}, {}


def atari(agent: str) -> tuple[dict, dict]:
    """The paper's Atari settings for ``agent`` on Pong (10M agent steps = 40M frames)."""
    train = {
        "env": ATARI_ENV,
        "total_steps": 10_000_000,
        "log_every_steps": 20_000,
        "checkpoint_every_steps": 500_000,
        "eval_every_steps": 500_000,
        "eval_episodes": 8,
    }
    if agent in ("a2c", "softq"):
        train["num_envs"] = 16
        overrides = dict(_ATARI_ACTOR_CRITIC)
        overrides["value_coef"] = 0.5
        if agent == "softq":
            overrides.update(value_scale=0.5, advantage_scale=None, scale_streams=True)
        return train, overrides
    train["num_envs"] = 8
    overrides = dict(_ATARI_DQN)
    if agent == "dqn":
        overrides["backup"] = "max"
    return train, overrides


PRESETS: dict[str, Callable[[str], tuple[dict, dict]]] = {"cartpole": cartpole, "atari": atari}

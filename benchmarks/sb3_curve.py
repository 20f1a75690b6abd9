"""Stable-Baselines3's A2C or DQN learning curve on a classic-control or MinAtar environment: the
peer runs of the learning benchmark (``benchmarks/learning.py``).

Runs in the peer's own virtualenv (never a softrl_tf dependency), with ``minatar`` installed there
for the MinAtar games:

    /tmp/sb3venv/bin/python benchmarks/sb3_curve.py --algo a2c --env CartPole-v1 \
        --steps 300000 --seed 0 --out results/benchmark/sb3_a2c/sb3_a2c-CartPole-v1-s0

Settings: A2C with SB3's defaults on 8 environments (``DummyVecEnv``), as softrl_tf's
classic-control runs; DQN with SB3's defaults on one environment, or RL Zoo's ``dqn.yml`` values
where Zoo has them (CartPole-v1, Acrobot-v1, MountainCar-v0). ``MlpPolicy`` everywhere (MinAtar's
10x10 grids are below SB3's Nature CNN's smallest input). Writes ``--out``/metrics.csv with
softrl_tf's column names (``sb3_a2c_curve.CurveWriter``: the mean raw return of the last 100
finished episodes, from SB3's Monitor) and ``--out``/config.json in softrl_tf's layout, so that the
benchmark summary and the plots read it as they read softrl_tf's runs.
"""

import argparse
import json
import os

import gymnasium
from sb3_a2c_curve import CurveWriter
from stable_baselines3 import A2C, DQN
from stable_baselines3.common.env_util import make_vec_env

A2C_ENVS = 8
# RL Zoo's hyperparams/dqn.yml (the values; its n_timesteps is replaced by the benchmark's budget).
ZOO_DQN = {
    "CartPole-v1": dict(
        learning_rate=2.5e-4,
        batch_size=512,
        buffer_size=100_000,
        learning_starts=0,
        gamma=0.99,
        target_update_interval=5000,
        train_freq=16,
        gradient_steps=4,
        exploration_fraction=0.06,
        exploration_final_eps=0.11,
    ),
    "MountainCar-v0": dict(
        learning_rate=4e-3,
        batch_size=128,
        buffer_size=10_000,
        learning_starts=1000,
        gamma=0.98,
        target_update_interval=5000,
        train_freq=16,
        gradient_steps=8,
        exploration_fraction=0.2,
        exploration_final_eps=0.07,
        policy_kwargs=dict(net_arch=[256, 256]),
    ),
}
ZOO_DQN["Acrobot-v1"] = dict(ZOO_DQN["CartPole-v1"])  # Zoo's Acrobot values are CartPole's


def register(env_id: str) -> None:
    """Registers MinAtar's gymnasium ids when ``env_id`` is one of them."""
    if env_id.startswith("MinAtar/") and env_id not in gymnasium.registry:
        from minatar import gym as minatar_gym

        minatar_gym.register_envs()


def build(algo: str, env_id: str, seed: int):
    """The SB3 model of ``algo`` on ``env_id``, and the settings it was given."""
    if algo == "a2c":
        settings = {"n_envs": A2C_ENVS}
        env = make_vec_env(env_id, n_envs=A2C_ENVS, seed=seed)
        return A2C("MlpPolicy", env, seed=seed, verbose=0), settings
    settings = dict(ZOO_DQN.get(env_id, {}))
    env = make_vec_env(env_id, n_envs=1, seed=seed)
    return DQN("MlpPolicy", env, seed=seed, verbose=0, **settings), {
        "n_envs": 1,
        "source": "rl-zoo dqn.yml" if env_id in ZOO_DQN else "sb3 defaults",
        **{k: str(v) if k == "policy_kwargs" else v for k, v in settings.items()},
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--algo", choices=("a2c", "dqn"), required=True)
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--steps", type=int, default=300_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=0, help="Default: steps / 100.")
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    register(args.env)
    model, settings = build(args.algo, args.env, args.seed)
    os.makedirs(args.out, exist_ok=True)
    train = {
        "agent": f"sb3_{args.algo}",
        "env": args.env,
        "num_envs": settings["n_envs"],
        "seed": args.seed,
        "total_steps": args.steps,
    }
    with open(os.path.join(args.out, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"train": train, "agent": settings}, f, indent=2)
    every = args.log_every or max(1, args.steps // 100)
    model.learn(args.steps, callback=CurveWriter(os.path.join(args.out, "metrics.csv"), every))
    with open(os.path.join(args.out, "run.json"), "w", encoding="utf-8") as f:
        json.dump({"status": "finished", "env_steps": int(model.num_timesteps)}, f)


if __name__ == "__main__":
    main()

"""Stable-Baselines3 A2C's learning curve on an Atari game with RL Zoo's Atari settings: the peer
run that a softrl_tf Atari curve is compared against.

Runs in the peer's own virtualenv (never a softrl_tf dependency; see sb3_a2c_peer.py):

    /tmp/sb3/bin/python benchmarks/sb3_a2c_curve.py --env PongNoFrameskip-v4 \
        --steps 1000000 --out results/atari_pong_cpu/sb3_a2c-PongNoFrameskip-v4-s0

Settings (RL Zoo's ``a2c.yml``, ``atari``): 16 environments with SB3's ``AtariWrapper``
(no-op reset, frame skip 4 with max-pool, life loss as episode end for learning, FIRE reset,
84x84 grey, sign-clipped rewards), a 4-frame stack, ``CnnPolicy`` (Nature CNN), 5 steps, entropy
coefficient 0.01, value coefficient 0.25 (SB3's value loss is the mean of (V - R)^2: the same
weight as the paper's 0.5 on half the square), RMSProp as TensorFlow 1 (``RMSpropTFLike``,
epsilon 1e-5 inside the square root, accumulator starting at 1), learning rate 7e-4 constant,
clip 0.5. Writes ``--out``/metrics.csv with softrl_tf's column names, so that
``scripts/plot.py`` draws it beside softrl_tf runs: one row every ``--log-every`` agent steps
with the step, the wall seconds, the mean game score of the last 100 finished games (raw score,
from SB3's Monitor) and the policy entropy of the latest update.
"""

import argparse
import csv
import json
import os
import time

import ale_py
import gymnasium
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.vec_env import VecFrameStack

COLUMNS = ["step", "wall_s", "episode/return_mean100", "train/entropy"]


class CurveWriter(BaseCallback):
    """Appends a row of :data:`COLUMNS` every ``every`` agent steps."""

    def __init__(self, path, every):
        super().__init__()
        self.path, self.every, self.next, self.start = path, every, every, time.perf_counter()

    def _on_training_start(self):
        with open(self.path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(COLUMNS)

    def _on_step(self):
        if self.num_timesteps < self.next:
            return True
        self.next += self.every
        games = [info["r"] for info in self.model.ep_info_buffer]
        mean = sum(games) / len(games) if games else float("nan")
        entropy = -self.model.logger.name_to_value.get("train/entropy_loss", float("nan"))
        with open(self.path, "a", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(
                [self.num_timesteps, round(time.perf_counter() - self.start, 1), mean, entropy]
            )
        return True


SETTINGS = dict(
    n_envs=16,
    frame_stack=4,
    n_steps=5,
    ent_coef=0.01,
    vf_coef=0.25,
    optimizer="RMSpropTFLike",
    rms_prop_eps=1e-5,
    learning_rate=7e-4,
    max_grad_norm=0.5,
)


def write_config(out: str, env: str, seed: int, steps: int) -> None:
    """``--out``/config.json in softrl_tf's layout (agent ``sb3_a2c``), so that plots label and
    group the run as they do softrl_tf's."""
    train = {"agent": "sb3_a2c", "env": env, "num_envs": 16, "seed": seed, "total_steps": steps}
    with open(os.path.join(out, "config.json"), "w", encoding="utf-8") as f:
        json.dump({"train": train, "agent": SETTINGS}, f, indent=2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PongNoFrameskip-v4")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=20_000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    gymnasium.register_envs(ale_py)
    env = make_atari_env(args.env, n_envs=SETTINGS["n_envs"], seed=args.seed)
    env = VecFrameStack(env, n_stack=SETTINGS["frame_stack"])
    model = A2C(
        "CnnPolicy",
        env,
        n_steps=SETTINGS["n_steps"],
        ent_coef=SETTINGS["ent_coef"],
        vf_coef=SETTINGS["vf_coef"],
        learning_rate=SETTINGS["learning_rate"],
        max_grad_norm=SETTINGS["max_grad_norm"],
        policy_kwargs=dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5)),
        seed=args.seed,
        verbose=0,
    )
    os.makedirs(args.out, exist_ok=True)
    write_config(args.out, args.env, args.seed, args.steps)
    model.learn(
        args.steps, callback=CurveWriter(os.path.join(args.out, "metrics.csv"), args.log_every)
    )


if __name__ == "__main__":
    main()

"""Stable-Baselines3 A2C's learning curve on an Atari game with RL Zoo's Atari settings: the peer
run that a softrl_tf Atari curve is compared against.

Runs in the peer's own virtualenv (never a softrl_tf dependency; see sb3_a2c_peer.py):

    /tmp/sb3/bin/python benchmarks/sb3_a2c_curve.py --env PongNoFrameskip-v4 \
        --steps 1000000 --out results/atari_pong_cpu/sb3_a2c-PongNoFrameskip-v4-s0.csv

Settings (RL Zoo's ``a2c.yml``, ``atari``): 16 environments with SB3's ``AtariWrapper``
(no-op reset, frame skip 4 with max-pool, life loss as episode end for learning, FIRE reset,
84x84 grey, sign-clipped rewards), a 4-frame stack, ``CnnPolicy`` (Nature CNN), 5 steps, entropy
coefficient 0.01, value coefficient 0.25 (SB3's value loss is the mean of (V - R)^2: the same
weight as the paper's 0.5 on half the square), RMSProp as TensorFlow 1 (``RMSpropTFLike``,
epsilon 1e-5 inside the square root, accumulator starting at 1), learning rate 7e-4 constant,
clip 0.5. Writes one CSV row every ``--log-every`` agent steps: steps, wall seconds, the mean
game score of the last 100 finished games (raw score, from SB3's Monitor), the policy entropy
of the latest update.
"""

import argparse
import csv
import os
import time

import ale_py
import gymnasium
from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike
from stable_baselines3.common.vec_env import VecFrameStack


class CurveWriter(BaseCallback):
    """Appends ``steps, wall_s, return_mean100, entropy`` every ``every`` agent steps."""

    def __init__(self, path, every):
        super().__init__()
        self.path, self.every, self.next, self.start = path, every, every, time.perf_counter()

    def _on_training_start(self):
        with open(self.path, "w", newline="", encoding="utf-8") as f:
            csv.writer(f).writerow(["steps", "wall_s", "return_mean100", "entropy"])

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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="PongNoFrameskip-v4")
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--log-every", type=int, default=20_000)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    gymnasium.register_envs(ale_py)
    env = VecFrameStack(make_atari_env(args.env, n_envs=16, seed=args.seed), n_stack=4)
    model = A2C(
        "CnnPolicy",
        env,
        ent_coef=0.01,
        vf_coef=0.25,
        policy_kwargs=dict(optimizer_class=RMSpropTFLike, optimizer_kwargs=dict(eps=1e-5)),
        seed=args.seed,
        verbose=0,
    )
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    model.learn(args.steps, callback=CurveWriter(args.out, args.log_every))


if __name__ == "__main__":
    main()

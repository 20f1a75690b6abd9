"""Stable-Baselines3 A2C training throughput, the peer yardstick of benchmarks/train_throughput.py.

Runs in its own virtualenv with stable-baselines3 installed (never a softrl_tf dependency):

    python -m venv /tmp/sb3 && /tmp/sb3/bin/pip install stable-baselines3 gymnasium ale-py
    /tmp/sb3/bin/python benchmarks/sb3_a2c_peer.py --env CartPole-v1 --num-envs 8 --steps 40000

Default hyperparameters (as in BENCHMARKS.md), DummyVecEnv for CartPole and SubprocVecEnv with
the DeepMind wrappers for Atari. Prints one JSON line: env steps per second after a warm-up of
the first ``--warmup`` steps.
"""

import argparse
import functools
import json
import time

from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env, make_vec_env
from stable_baselines3.common.vec_env import SubprocVecEnv, VecFrameStack


def make_atari(env_id, **kwargs):
    """``gymnasium.make`` of an Atari id, with ale-py's environments registered first.

    SubprocVecEnv builds each environment in a fresh worker process (forkserver), where a
    registration made in the main process does not exist: each worker registers them itself.
    """
    import ale_py
    import gymnasium

    gymnasium.register_envs(ale_py)
    return gymnasium.make(env_id, **kwargs)


class Clock(BaseCallback):
    """Records the wall time when the warm-up ends and when training ends."""

    def __init__(self, warmup):
        super().__init__()
        self.warmup, self.start_time, self.start_steps = warmup, None, None

    def _on_step(self):
        if self.start_time is None and self.num_timesteps >= self.warmup:
            self.start_time, self.start_steps = time.perf_counter(), self.num_timesteps
        return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--num-envs", type=int, default=8)
    parser.add_argument("--steps", type=int, default=40_000)
    parser.add_argument("--warmup", type=int, default=4_000)
    args = parser.parse_args()
    if "NoFrameskip" in args.env or args.env.startswith("ALE/"):
        # A callable, not the id: make_atari_env would call gymnasium.make(id) in the workers.
        make = functools.partial(make_atari, args.env)
        env = make_atari_env(make, n_envs=args.num_envs, vec_env_cls=SubprocVecEnv, seed=0)
        env = VecFrameStack(env, n_stack=4)
        model = A2C("CnnPolicy", env, seed=0, device="cpu")
    else:
        env = make_vec_env(args.env, n_envs=args.num_envs, seed=0)
        model = A2C("MlpPolicy", env, seed=0, device="cpu")
    clock = Clock(args.warmup)
    model.learn(total_timesteps=args.steps, callback=clock)
    elapsed = time.perf_counter() - clock.start_time
    steps = model.num_timesteps - clock.start_steps
    print(json.dumps({"runner": "sb3_a2c", "env": args.env, "env_steps_per_s": steps / elapsed}))


if __name__ == "__main__":
    main()

"""Stable-Baselines3 A2C training throughput, the peer yardstick of benchmarks/train_throughput.py.

Runs in its own virtualenv with stable-baselines3 installed (never a softrl_tf dependency):

    python -m venv /tmp/sb3 && /tmp/sb3/bin/pip install stable-baselines3 gymnasium ale-py
    /tmp/sb3/bin/python benchmarks/sb3_a2c_peer.py --env CartPole-v1 --num-envs 8 --steps 40000

Default hyperparameters (as benchmarks/RESULTS.md states), the DeepMind wrappers and a 4-frame
stack for Atari. ``--vec-env`` (``dummy``: all environments in this process, the default;
``subproc``: one process each) and ``--threads`` (PyTorch's intra-op threads; 0 keeps its
default) choose the peer's configuration, so that it can be measured at its best. Prints one
JSON line: env steps per second after a warm-up of the first ``--warmup`` steps.
"""

import argparse
import functools
import json
import time

from stable_baselines3 import A2C
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.env_util import make_atari_env, make_vec_env
from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecFrameStack


def make_atari(env_id, **kwargs):
    """``gymnasium.make`` of an Atari id, with ale-py's environments registered first.

    SubprocVecEnv builds each environment in a fresh worker process (forkserver), where a
    registration made in the main process does not exist: each environment registers them.
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
    parser.add_argument("--vec-env", choices=("dummy", "subproc"), default="dummy")
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: its default")
    args = parser.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    vec_env_cls = {"dummy": DummyVecEnv, "subproc": SubprocVecEnv}[args.vec_env]
    if "NoFrameskip" in args.env or args.env.startswith("ALE/"):
        # A callable, not the id: make_atari_env would call gymnasium.make(id) in the workers.
        make = functools.partial(make_atari, args.env)
        env = make_atari_env(make, n_envs=args.num_envs, vec_env_cls=vec_env_cls, seed=0)
        env = VecFrameStack(env, n_stack=4)
        model = A2C("CnnPolicy", env, seed=0, device="cpu")
    else:
        env = make_vec_env(args.env, n_envs=args.num_envs, seed=0, vec_env_cls=vec_env_cls)
        model = A2C("MlpPolicy", env, seed=0, device="cpu")
    clock = Clock(args.warmup)
    model.learn(total_timesteps=args.steps, callback=clock)
    elapsed = time.perf_counter() - clock.start_time
    steps = model.num_timesteps - clock.start_steps
    row = {"runner": "sb3_a2c", "env": args.env, "vec_env": args.vec_env, "threads": args.threads}
    print(json.dumps({**row, "env_steps_per_s": steps / elapsed}))


if __name__ == "__main__":
    main()

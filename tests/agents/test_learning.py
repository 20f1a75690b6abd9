"""Learning checks on CartPole-v1 with the registry's default configs and fixed seeds (slow).

Each run trains through ``softrl_tf.training.loop.train`` for a fixed budget of environment
steps (over the 8 environments) and must reach a 100-episode mean return of at least 195. The step
at which it did is read from ``metrics.csv`` (rows every 1000 steps), so it is the first logged
step at or after the crossing.

Run: ``.venv/bin/python -m pytest -m slow -s tests/agents/test_learning.py``.
"""

import csv

import softrl_tf  # noqa: F401 - sets TF_USE_LEGACY_KERAS before TensorFlow loads
from softrl_tf.config import TrainConfig
from softrl_tf.presets import resolve
from softrl_tf.training.loop import train

import pytest

THRESHOLD = 195.0
SEED = 0
NUM_ENVS = 8
# Environment steps (all environments together) each agent gets; the linear learning-rate decay
# spans the budget. Measured with seed 0: 195 crossed at 25k (a2c), 35k (softq) and 48k (soft_dqn)
# logged steps; each run takes 15-40 s on 2 CPU cores.
BUDGETS = {"a2c": 60_000, "softq": 60_000, "soft_dqn": 60_000}


def first_step_at(root, threshold):
    """First logged environment step whose 100-episode mean return is >= ``threshold``."""
    with open(root / "metrics.csv", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            value = row.get("episode/return_mean100")
            if value and float(value) >= threshold:
                return int(row["step"])
    return None


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(BUDGETS))
def test_cartpole_reaches_195_within_budget(name, tmp_path):
    budget = BUDGETS[name]
    result = train(
        TrainConfig(
            agent=name,
            env="CartPole-v1",
            num_envs=NUM_ENVS,
            total_steps=budget,
            seed=SEED,
            root_dir=str(tmp_path),
            log_every_steps=1000,
            checkpoint_every_steps=budget,
            export=False,
        ),
        resolve(name).agent,
        progress=False,
    )
    reached = first_step_at(tmp_path, THRESHOLD)
    print(
        f"\n{name}: 100-episode mean >= {THRESHOLD} at step {reached} (budget {budget}); "
        f"final mean {result.mean_return():.1f}"
    )
    assert reached is not None and reached <= budget, (name, result.mean_return())
